"""Careless input to the flood service: odd season and model files through the real CLI, and
readings it cannot use posted to the real receiver on a running hub (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from click.testing import CliRunner
from synthetic_river import HEADER, Pulse, write_season

from smartseoul.cli import main
from smartseoul.datasets.han_river import read_han_river
from smartseoul.hub.client import local_client
from smartseoul.services.flood.entities import FLOOD_CONTEXT
from smartseoul.services.flood.model import fit_flood_model, series_from_records
from smartseoul.services.flood.service import FloodService, flood_config, site_entities

START = datetime(2025, 7, 1, tzinfo=UTC)


def season(tmp_path, name: str, steps: int = 300):
    return write_season(tmp_path / name, START, range(steps), [Pulse(4000, 150, 20)])


def flood(*args: str):
    return CliRunner().invoke(main, ["flood", *map(str, args)])


def test_unusable_season_files_are_one_line_and_status_1(tmp_path):
    good = season(tmp_path, "data_2025.csv")
    lines = good.read_text(encoding="utf-8").splitlines()
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "header.csv").write_text(HEADER + "\n", encoding="utf-8")
    (tmp_path / "one.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    (tmp_path / "cut.csv").write_text(lines[0] + "\n" + lines[1][:30] + "\n", encoding="utf-8")
    # One row whose year is 0001: the series grid would span 2029 years (it ran out of memory).
    year_one = [lines[0], "0001" + lines[1][4:], *lines[2:]]
    (tmp_path / "year1.csv").write_text("\n".join(year_one) + "\n", encoding="utf-8")
    cases = {
        "empty.csv": "empty.csv: no column ymdhm, swl, inf, sfw, ecpc, tototf, tide_level in header []",
        "header.csv": "header.csv: no records",
        "cut.csv": "cut.csv: row 2: 4 columns, 15 expected",
        "one.csv": "no complete rows to train on",
        "year1.csv": "year1.csv: records from 1-07-01 09:00 to 2025-07-03 10:50 span more than a year",
    }  # fmt: skip
    for name, message in cases.items():
        result = flood("train", tmp_path / name, "--output", tmp_path / "m.json")
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and message in result.output, result.output
        assert "Traceback" not in result.output and not (tmp_path / "m.json").exists()
    result = flood("evaluate", "--train", good, "--test", tmp_path / "one.csv", "--json")
    assert result.exit_code == 1 and "NaN" not in result.output
    assert "nothing to score at some lead time of gauge(s) 1018662, 1018680" in result.output


def test_unusable_model_files_are_one_line_and_status_1(tmp_path):
    (tmp_path / "text.json").write_text("not json", encoding="utf-8")
    (tmp_path / "other.json").write_text('{"kind": "something else"}', encoding="utf-8")
    for name, message in (("text.json", "JSONDecodeError"), ("other.json", "not a smartseoul"),
                          ("missing.json", "run `smartseoul flood train` first")):  # fmt: skip
        result = flood("run", "--url", "http://127.0.0.1:9/ngsi-ld/v1", "--model",
                       tmp_path / name)  # fmt: skip
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and message in result.output, result.output


def test_load_writes_nothing_when_a_later_file_is_bad(tmp_path):
    good = season(tmp_path, "data_2025.csv", steps=20)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\n2025-07-01 00:00,x\n", encoding="utf-8")
    result = flood("load", good, bad, "--data-dir", tmp_path / "hub")
    assert result.exit_code == 1 and "bad.csv: row 2" in result.output, result.output
    assert not (tmp_path / "hub").exists()  # the first file was not written either
    result = flood("load", good, "--data-dir", tmp_path / "hub")
    assert result.exit_code == 0 and result.output.endswith(" history instances written\n")


def test_receiver_skips_readings_it_cannot_use(hub, tmp_path):
    """A reading whose value or time is unusable used to answer 500, which the hub
    redelivers again and again; it is skipped and the next step is still forecast."""
    rows = list(read_han_river(season(tmp_path, "data_2025.csv")))
    model = fit_flood_model([series_from_records(rows)])
    app = hub.app
    app.state.flood_service = FloodService(local_client(app), model,
                                           flood_config(app.state.settings))  # fmt: skip
    entities, _ = site_entities(rows[-2:-1])
    bad = [dict(e) for e in entities]
    bad[0]["waterLevel"] = {**bad[0]["waterLevel"], "value": "n/a"}
    bad[1]["waterLevel"] = {**bad[1]["waterLevel"], "observedAt": "yesterday"}
    bad[2]["waterLevel"] = {**bad[2]["waterLevel"], "value": [1, 2]}
    # Every gauge from a clock years ahead: that step was forecast, and each real one after
    # it counted as past (no forecast, ever, even after a restart). It is skipped.
    ahead, _ = site_entities(rows[-2:-1])
    for entity in ahead:
        for name, value in list(entity.items()):
            if isinstance(value, dict) and "observedAt" in value:
                entity[name] = {**value, "observedAt": "9999-07-01T00:00:00Z"}
    bad += ahead
    bad.append({"id": "urn:ngsi-ld:WeatherObserved:x", "type": "WeatherObserved",
                "district": {"type": "Property", "value": "11230"},
                "precipitation": {"type": "Property", "value": "heavy",
                                  "observedAt": "2025-07-01T00:00:00Z"}})  # fmt: skip
    try:
        with httpx.Client(base_url=hub.base, timeout=30) as http:
            first = http.post("/flood/notify", json={"data": bad})
            second = http.post("/flood/notify", json={"data": site_entities(rows[-1:])[0]})
            found = http.get("/flood/forecasts").json()
            query = {"type": "Query", "entities": [{"type": "WaterLevelForecast"}],
                     "attrs": ["waterLevelForecast"], "@context": FLOOD_CONTEXT}  # fmt: skip
            made = hub.http.post("/entityOperations/query", json=query,
                                 headers={"Content-Type": "application/ld+json"}).json()  # fmt: skip
    finally:
        app.state.flood_service = None
    assert (first.status_code, second.status_code) == (204, 204), first.text
    assert sorted(f["code"] for f in found) == ["1018662", "1018680", "1018683", "1019630"]
    assert all(len(f["waterLevelForecast"]) == 18 for f in found)
    last = rows[-1].time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {f["waterLevelForecast"]["observedAt"] for f in made} == {last}, made
