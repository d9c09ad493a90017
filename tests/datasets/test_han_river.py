"""Tests for the Han River season files and HRFCO-style gauge records (../shared/data)."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from smartseoul.datasets import DatasetError
from smartseoul.datasets.boundaries import district_at, read_districts
from smartseoul.datasets.han_river import (
    GAUGES,
    PALDANG_DAM,
    GaugeReading,
    gauge_readings,
    parse_ymdhm,
    read_gauge_records,
    read_han_river,
    season_files,
)

HAN_RIVER = Path(__file__).parents[2].parent / "shared" / "data" / "han-river"
KST = timezone(timedelta(hours=9))
HANGANG_BRIDGE = "1018683"


def season(year: int) -> Path:
    path = HAN_RIVER / f"data_{year}.csv"
    if not path.exists():
        pytest.skip(f"Han River data (internal licence, not shipped) not found: {path}")
    return path


@pytest.fixture(scope="module")
def records_2019():
    return list(read_han_river(season(2019)))


def test_a_season_is_every_10_minutes_from_may_to_october(records_2019):
    assert len(records_2019) == 26_496
    assert records_2019[0].time == datetime(2019, 5, 1, tzinfo=KST)
    assert records_2019[-1].time == datetime(2019, 10, 31, 23, 50, tzinfo=KST)
    steps = {b.time - a.time for a, b in zip(records_2019, records_2019[1:], strict=False)}
    assert steps == {timedelta(minutes=10)}


def test_first_row_values(records_2019):
    first = records_2019[0]
    assert (first.dam_level, first.dam_inflow, first.dam_storage, first.dam_free_capacity) == (
        25.0,
        0.0,
        211.41,
        32.59,
    )
    assert (first.dam_discharge, first.tide_level_cm) == (329.0, 186.0)
    assert sorted(first.water_level_cm) == sorted(GAUGES)
    assert first.water_level_cm[HANGANG_BRIDGE] == 278.0
    assert first.flow["1019630"] == 438.33


def test_missing_values_are_none(records_2019):
    # Jamsu Bridge has no flow measurement at all; the dam series has 502 gaps in 2019.
    assert all(r.flow["1018680"] is None for r in records_2019)
    assert sum(r.dam_level is None for r in records_2019) == 502


def test_2019_peak_at_hangang_bridge(records_2019):
    peak = max(records_2019, key=lambda r: r.water_level_cm[HANGANG_BRIDGE] or 0)
    assert peak.time == datetime(2019, 8, 1, 9, 0, tzinfo=KST)
    assert peak.water_level_m(HANGANG_BRIDGE) == 5.21
    assert peak.dam_discharge == 1748.0


def test_2013_flood_crossed_the_advisory_level():
    peak = max(read_han_river(season(2013)), key=lambda r: r.water_level_cm[HANGANG_BRIDGE] or 0)
    assert peak.time == datetime(2013, 7, 15, 22, 40, tzinfo=KST)
    level = peak.water_level_m(HANGANG_BRIDGE)
    gauge = GAUGES[HANGANG_BRIDGE]
    assert gauge.advisory_m < level < gauge.warning_m
    assert level == 8.57


def test_gauge_readings_are_in_metres(records_2019):
    readings = list(gauge_readings(records_2019[:2]))
    assert len(readings) == 8
    assert readings[0] == GaugeReading("1018662", datetime(2019, 5, 1, tzinfo=KST), 2.937, 355.94)
    jamsu = next(r for r in readings if r.code == "1018680")
    assert (jamsu.level_m, jamsu.flow_m3s) == (2.782, None)


def test_season_files(tmp_path):
    if HAN_RIVER.is_dir():
        assert list(season_files(HAN_RIVER)) == list(range(2012, 2020))
    assert season_files(tmp_path) == {}
    assert season_files(tmp_path / "absent") == {}
    (tmp_path / "data_2020.csv").touch()
    (tmp_path / "notes.csv").touch()
    assert season_files(tmp_path) == {2020: tmp_path / "data_2020.csv"}


def test_gauge_metadata_lies_on_the_river_in_seoul():
    assert sorted(GAUGES) == ["1018662", "1018680", "1018683", "1019630"]
    assert GAUGES[HANGANG_BRIDGE].name_en == "Hangang Bridge"
    assert (GAUGES[HANGANG_BRIDGE].advisory_m, GAUGES[HANGANG_BRIDGE].warning_m) == (8.5, 10.5)
    districts = read_districts()
    for gauge in GAUGES.values():
        assert district_at(gauge.lon, gauge.lat, districts) is not None, gauge.name_en
    # Paldang dam is upstream in Hanam/Namyangju, outside Seoul but inside the demo's box.
    assert district_at(PALDANG_DAM.lon, PALDANG_DAM.lat, districts) is None
    assert 126.7 < PALDANG_DAM.lon < 127.3 and 37.4 < PALDANG_DAM.lat < 37.75


def test_hrfco_style_records(tmp_path):
    path = tmp_path / "gauges.csv"
    path.write_text(
        'wlobscd,ymdhm,wl,fw\n1018683,201907311000,4.56,"1,234.5"\n1018683,201907311010,-,\n',
        encoding="utf-8",
    )
    assert list(read_gauge_records(path)) == [
        GaugeReading("1018683", datetime(2019, 7, 31, 10, tzinfo=KST), 4.56, 1234.5),
        GaugeReading("1018683", datetime(2019, 7, 31, 10, 10, tzinfo=KST), None, None),
    ]


def test_plain_gauge_records_without_flow(tmp_path):
    path = tmp_path / "gauges.csv"
    path.write_bytes("\ufeffcode,time,level\n1019630,2019-08-01 09:00,4.663\n".encode())
    assert list(read_gauge_records(path)) == [
        GaugeReading("1019630", datetime(2019, 8, 1, 9, tzinfo=KST), 4.663, None)
    ]


def test_gauge_record_errors_name_the_problem(tmp_path):
    path = tmp_path / "gauges.csv"
    path.write_text("station,time\n1,201907311000\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no column for code, level"):
        list(read_gauge_records(path))
    path.write_text("code,time,level\n1018683,31/07/2019,4.5\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="row 2: expected a time like 201907311000"):
        list(read_gauge_records(path))
    path.write_text("ymdhm,swl\n2019-05-01 00:00,25\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no column inf, sfw, ecpc, tototf, tide_level"):
        list(read_han_river(path))


def test_parse_ymdhm():
    assert parse_ymdhm("201907311000") == datetime(2019, 7, 31, 10, tzinfo=KST)
    assert parse_ymdhm("2019-07-31 10:00") == datetime(2019, 7, 31, 10, tzinfo=KST)
    assert parse_ymdhm("2019-07-31T01:00+00:00") == datetime(2019, 7, 31, 10, tzinfo=KST)
    with pytest.raises(DatasetError, match="bad time"):
        parse_ymdhm("201913011000")
