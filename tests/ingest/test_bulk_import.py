"""Bulk import: a cp949 CSV into a real hub store, idempotent, resumable, bad rows reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_store
from smartseoul.config import Settings
from smartseoul.datasets import shipped_file
from smartseoul.hub.broker import Broker
from smartseoul.hub.client import HttpHubClient, LocalHubClient
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.ingest.bulk_import import RowError, read_readings
from smartseoul.ingest.cli import import_command
from smartseoul.ingest.import_run import run_import
from smartseoul.ingest.mapping import MappingError, load_mapping, parse_mapping

AIR = load_mapping("seoul-air-daily")
HEADER = "측정일시,측정소명,이산화질소농도(ppm),오존농도(ppm),일산화탄소농도(ppm),아황산가스농도(ppm),미세먼지농도(㎍/㎥),초미세먼지농도(㎍/㎥)"
STATIONS = ["강남구", "종로구", "강남대로"]
DAYS = 10


def air_csv(tmp_path: Path, *, bad_row: bool = False) -> Path:
    """DAYS days x 3 stations in cp949, oldest last as in the published files."""
    lines = [HEADER]
    for day in range(DAYS, 0, -1):
        for i, station in enumerate(STATIONS):
            pm10 = "abc" if bad_row and day == 5 and i == 1 else str(30 + day + i)
            lines.append(f"201901{day:02d},{station},0.03,0.01,0.5,0.004,{pm10},{20 + day}")
    path = tmp_path / "air.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp949"))
    return path


async def with_client(backend: str, tmp_path: Path, work):
    store = make_store(backend, tmp_path)
    await store.open()
    resolver = ContextResolver(store, Settings(data_dir=tmp_path))
    try:
        return await work(LocalHubClient(Broker(store), resolver))
    finally:
        await resolver.close()
        await store.close()
        if backend == "postgres":
            await store.drop()


async def pm10_history(client, entity_id: str) -> list[float]:
    found = await client.history(
        [entity_id],
        attrs=["pm10"],
        time_at="2000-01-01T00:00:00Z",
        end_time_at="2100-01-01T00:00:00Z",
        context=AIR.context,
    )
    return [i["value"] for i in found.get(entity_id, {}).get("pm10", [])]


def run(client, path, tmp_path, **kw):
    return run_import(client, path, AIR, state_dir=tmp_path / "state", target="t", batch=7, **kw)


GANGNAM = "urn:ngsi-ld:AirQualityObserved:seoul:gangnam-gu"


def test_reader_detects_cp949_and_converts(tmp_path):
    rows = list(read_readings(air_csv(tmp_path), AIR))
    assert len(rows) == DAYS * len(STATIONS)
    number, readings = rows[0]
    assert number == 2 and not isinstance(readings, RowError)
    reading = readings[0]
    assert reading.entity_id == GANGNAM
    assert reading.attrs["pm10"] == {
        "type": "Property",
        "value": 40.0,
        "observedAt": "2019-01-09T15:00:00Z",  # 2019-01-10 00:00 KST
        "unitCode": "GQ",
    }
    assert reading.static["name"]["languageMap"] == {"ko": "강남구", "en": "Gangnam-gu"}
    assert reading.static["location"]["type"] == "GeoProperty"


def test_import_is_idempotent_and_reports_bad_rows(backend, tmp_path):
    path = air_csv(tmp_path, bad_row=True)

    async def work(client):
        first = await run(client, path, tmp_path)
        assert first.complete and first.rows == DAYS * len(STATIONS)
        assert first.entities == len(STATIONS)
        assert first.error_count == 1
        assert first.errors[0].startswith("row 18: column 미세먼지농도: expected a number")
        entity = await client.get(GANGNAM, context=AIR.context, key_values=True)
        assert entity["pm10"] == 40.0 and entity["name"] == {
            "languageMap": {"ko": "강남구", "en": "Gangnam-gu"}
        }
        history = await pm10_history(client, GANGNAM)
        assert history == [30.0 + d for d in range(1, DAYS + 1)]  # one per day, in time order
        again = await run(client, path, tmp_path)
        assert again.up_to_date  # the checkpoint says done
        redo = await run(client, path, tmp_path, restart=True)
        assert redo.written == 0 and redo.unchanged == first.written
        assert await pm10_history(client, GANGNAM) == history
        name_history = await client.history(
            [GANGNAM],
            attrs=["name"],
            time_at="2000-01-01T00:00:00Z",
            end_time_at="2100-01-01T00:00:00Z",
            context=AIR.context,
        )
        assert name_history == {}  # descriptive attributes carry no observedAt

    asyncio.run(with_client(backend, tmp_path, work))


def test_interrupted_import_resumes_without_duplicates(tmp_path):
    path = air_csv(tmp_path)

    class Crash(Exception):
        pass

    async def work(client):
        partial = await run(client, path, tmp_path, limit=10)
        assert not partial.complete and partial.last_row == 11
        calls = 0
        real = client.append_history

        async def crashing(*args, **kw):
            nonlocal calls
            calls += 1
            if calls == 2:  # after the upsert and one entity's history of a chunk
                raise Crash
            return await real(*args, **kw)

        client.append_history = crashing
        with pytest.raises(Crash):
            await run(client, path, tmp_path)
        client.append_history = real
        done = await run(client, path, tmp_path)
        assert done.complete and done.resumed_from == 11
        assert done.rows == DAYS * len(STATIONS)
        for station in ("gangnam-gu", "jongno-gu", "gangnam-daero"):
            values = await pm10_history(client, f"urn:ngsi-ld:AirQualityObserved:seoul:{station}")
            assert len(values) == DAYS
        entity = await client.get(GANGNAM, context=AIR.context, key_values=True)
        assert entity["pm10"] == 40.0  # the newest day, although the file lists it first

    asyncio.run(with_client("sqlite", tmp_path, work))


def test_changed_value_replaces_its_instance(tmp_path):
    path = air_csv(tmp_path)

    async def work(client):
        await run(client, path, tmp_path)
        text = (
            path.read_bytes()
            .decode("cp949")
            .replace(
                "20190103,강남구,0.03,0.01,0.5,0.004,33", "20190103,강남구,0.03,0.01,0.5,0.004,99"
            )
        )
        path.write_bytes(text.encode("cp949"))
        report = await run(client, path, tmp_path)  # a new file hash: a new checkpoint
        assert report.replaced == 1 and report.written == 0
        values = await pm10_history(client, GANGNAM)
        assert len(values) == DAYS and values[2] == 99.0

    asyncio.run(with_client("sqlite", tmp_path, work))


@pytest.mark.parametrize("backend", ["sqlite"])  # the HTTP path once; the stores are tested above
def test_shipped_air_file_through_http(hub, tmp_path):

    async def work():
        client = HttpHubClient(hub.api)
        try:
            report = await run_import(
                client,
                shipped_file("air-daily-by-station-2019.csv"),
                AIR,
                state_dir=tmp_path / "state",
                target=hub.api,
                limit=600,
            )
            assert report.rows == 600 and report.error_count == 0
            history = await pm10_history(client, GANGNAM)
            rows = [r for _, r in read_readings(shipped_file("air-daily-by-station-2019.csv"), AIR)]
            days = sum(1 for r in rows[:600] if r[0].entity_id == GANGNAM)
            assert len(history) == days > 10
            redo = await run_import(
                client,
                shipped_file("air-daily-by-station-2019.csv"),
                AIR,
                state_dir=tmp_path / "state",
                target=hub.api,
                limit=600,
                restart=True,
            )
            assert redo.written == 0 and redo.unchanged == report.written
            assert await pm10_history(client, GANGNAM) == history
        finally:
            await client.close()

    asyncio.run(work())


def test_cli_imports_and_resumes(tmp_path):
    path = air_csv(tmp_path)
    runner = CliRunner()
    args = [str(path), "--mapping", "seoul-air-daily", "--data-dir", str(tmp_path)]
    first = runner.invoke(import_command, [*args, "--limit", "12", "--batch", "5"])
    assert first.exit_code == 0, first.output
    assert "run the same command again to resume" in first.output
    second = runner.invoke(import_command, args)
    assert second.exit_code == 0, second.output
    assert "Resumed after row 13" in second.output
    third = runner.invoke(import_command, args)
    assert "already imported" in third.output


def test_mapping_errors_name_the_key(tmp_path):
    with pytest.raises(MappingError, match="neither a file nor a shipped mapping.*seoul-air-daily"):
        load_mapping("no-such-mapping")
    with pytest.raises(MappingError, match=r"entities\[0\]\.attributes\.pm10\.type"):
        parse_mapping(
            {
                "time": {"column": "t"},
                "entities": [
                    {
                        "id": "urn:x:{a}",
                        "type": "T",
                        "attributes": {"pm10": {"column": "p", "type": "float"}},
                    }
                ],
            }
        )
    path = tmp_path / "x.csv"
    path.write_text("t,b\n2019-01-01,1\n", encoding="utf-8")
    with pytest.raises(MappingError, match="no column .*측정소명.* in the header; columns: t, b"):
        list(read_readings(path, AIR))


def test_rows_out_of_range_or_with_nul_and_refused_ids_are_reported(backend, tmp_path):
    """A time out of range stopped the import with an OverflowError, a NUL character with a
    PostgreSQL error, an id the hub refuses on reading it with a BadRequestData: each is now
    an error of its row, and the rows around it are imported."""
    mapping = parse_mapping(
        {
            "time": {"column": "time", "format": "%Y-%m-%d %H:%M"},
            "entities": [
                {
                    "id": "urn:ngsi-ld:Probe:{station}",
                    "type": "Probe",
                    "static": {"label": "{label}"},
                    "attributes": {"level": "level", "note": {"column": "note", "type": "text"}},
                }
            ],
        }
    )
    long_id = "e" * 1100
    rows = [
        ("a", "2019-01-01 01:00", "1", "ok", "A"),
        ("a", "9999-12-31 24:00", "2", "ok", "A"),
        ("a", "0001-01-01 05:00", "3", "ok", "A"),
        ("a", "2019-01-01 02:00", "4", "n\x00ul", "A"),
        ("a", "2019-01-01 03:00", "5", "ok", "A\x00"),
        ("b\x00c", "2019-01-01 03:00", "6", "ok", "B"),
        (long_id, "2019-01-01 03:00", "7", "ok", "E"),
        ("a", "2019-01-01 04:00", "8", "ok", "A"),
    ]
    path = tmp_path / "probes.csv"
    lines = ["station,time,level,note,label", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    async def work(client):
        report = await run_import(client, path, mapping, state_dir=tmp_path, target="t")
        assert report.complete and report.rows == len(rows)
        assert report.errors[:6] == [
            "row 3: time '9999-12-31 24:00' is out of range",
            "row 4: time 0001-01-01T05:00:00+09:00 is out of range in UTC",
            "row 5: column note: holds a NUL character (U+0000)",
            "row 6: column label: holds a NUL character (U+0000)",
            "row 7: column station: holds a NUL character (U+0000)",
            f"row 8: urn:ngsi-ld:Probe:{long_id}: refused by the hub: The entity id is longer "
            f"than 1024 bytes: urn:ngsi-ld:Probe:{'e' * 42}...",
        ]
        assert report.error_count == 6 and report.entities == 1 and report.written == 4
        entity = await client.get("urn:ngsi-ld:Probe:a", key_values=True)
        assert entity["level"] == 8.0 and entity["note"] == "ok" and entity["label"] == "A"

    asyncio.run(with_client(backend, tmp_path, work))
