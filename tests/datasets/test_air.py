"""Tests for the Seoul air-quality readers, on the shipped 2019 file and ../shared/data."""

import codecs
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from shapely.geometry import Point

from smartseoul.datasets import DatasetError, decode_text, parse_number, shipped_file
from smartseoul.datasets.air import (
    POLLUTANTS,
    DailyAirRecord,
    locate_stations,
    parse_hour,
    read_citywide_hourly,
    read_daily_by_station,
    read_item_info,
)
from smartseoul.datasets.boundaries import read_districts

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
AIR = SHARED / "air"
KST = timezone(timedelta(hours=9))


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture(scope="module")
def daily_2019():
    return list(read_daily_by_station(shipped_file("air-daily-by-station-2019.csv")))


def test_shipped_2019_file_is_read_from_cp949(daily_2019):
    assert len(daily_2019) == 17_745
    assert daily_2019[0] == DailyAirRecord(
        date(2019, 1, 1), "강남구", 0.027, 0.013, 0.6, 0.005, 35.0, 30.0
    )
    assert len({r.station for r in daily_2019}) == 50
    jongno = next(r for r in daily_2019 if r.date == date(2019, 3, 5) and r.station == "종로구")
    assert (jongno.pm10, jongno.pm25, jongno.co) == (168.0, 122.0, 1.0)


def test_missing_cells_are_none(daily_2019):
    # 717 blank PM10 cells in the 2019 file.
    assert sum(r.pm10 is None for r in daily_2019) == 717
    assert all(
        isinstance(getattr(r, p), float | None) for r in daily_2019[:500] for p in POLLUTANTS
    )


def test_2018_csv():
    records = list(read_daily_by_station(shared(AIR / "daily-by-station" / "2018.csv")))
    assert len(records) == 14_637
    assert records[1].station == "강남대로" and records[1].pm10 is None and records[1].pm25 == 17.0


def test_xlsx_reads_the_mislabelled_co_column():
    records = list(read_daily_by_station(shared(AIR / "daily-by-station" / "2014.xlsx")))
    assert len(records) == 14_541
    # Header 이산화탄소농도 ("carbon dioxide"), values CO in ppm.
    assert records[0] == DailyAirRecord(
        date(2014, 1, 1), "강남구", 0.031, 0.016, 0.5, 0.01, 117.0, 29.0
    )
    assert records[-1].date == date(2014, 12, 31) and records[-1].station == "화랑로"


def test_citywide_hourly_turns_24_00_into_next_midnight():
    records = list(read_citywide_hourly(shared(AIR / "citywide-hourly-2018-2020.csv")))
    # 26,280 rows, less the 24 repeated rows of 2019-12-01.
    assert len(records) == 26_256
    assert records[0].time == datetime(2018, 1, 1, 1, tzinfo=KST)
    midnight = records[23]
    assert midnight.time == datetime(2018, 1, 2, 0, tzinfo=KST)
    # The column headed 이산화탄소 is NO2: 0.05 ppm.
    assert (midnight.pm25, midnight.pm10, midnight.o3, midnight.no2, midnight.co, midnight.so2) == (
        24.0,
        43.0,
        0.002,
        0.05,
        0.8,
        0.006,
    )
    assert records[-1].time == datetime(2021, 1, 1, tzinfo=KST)
    assert [r.time for r in records if r.co is None] == [datetime(2019, 8, 1, 15, tzinfo=KST)]
    gaps = [
        a.time
        for a, b in zip(records, records[1:], strict=False)
        if b.time - a.time != timedelta(hours=1)
    ]
    # The file lacks 2019-12-07 and 2020-02-29.
    assert gaps == [datetime(2019, 12, 7, tzinfo=KST), datetime(2020, 2, 29, tzinfo=KST)]


def test_citywide_hourly_refuses_an_hour_with_two_different_values(tmp_path):
    path = tmp_path / "hourly.csv"
    header = ",일시,초미세먼지,미세먼지,오존,이산화탄소,일산화탄소,아황산가스\n"
    path.write_text(header + "0,2019-12-01 01:00,1,2,0.1,0.1,0.1,0.1\n" * 2, encoding="utf-8")
    assert len(list(read_citywide_hourly(path))) == 1
    path.write_text(
        header + "0,2019-12-01 01:00,1,2,0.1,0.1,0.1,0.1\n1,2019-12-01 01:00,1,3,0.1,0.1,0.1,0.1\n",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError, match="2019-12-01 01:00 appears twice with different values"):
        list(read_citywide_hourly(path))


def test_item_info_bands():
    bands = read_item_info(shipped_file("air-item-info.csv"))
    assert sorted(bands) == sorted(POLLUTANTS)
    pm10, pm25 = bands["pm10"], bands["pm25"]
    assert (pm10.unit, pm10.good, pm10.normal, pm10.bad) == ("µg/m³", 30, 80, 150)
    assert [pm25.grade(v) for v in (15, 35, 75, 76)] == ["good", "normal", "bad", "very bad"]
    assert bands["no2"].unit == "ppm" and bands["no2"].item_code == 3


def test_stations_of_the_shipped_year_all_have_a_position_in_their_gu(daily_2019):
    districts = read_districts()
    by_code = {d.code: d for d in districts}
    stations = locate_stations(districts)
    assert {r.station for r in daily_2019} <= set(stations)
    assert sum(s.kind == "district" for s in stations.values()) == 25
    assert len({s.slug for s in stations.values()}) == len(stations)
    for station in stations.values():
        # Border roads may sit a few metres outside their polygon.
        area = by_code[station.gu_code].shape.buffer(0.001)
        assert area.contains(Point(station.lon, station.lat)), station.name_ko
    assert stations["강남구"].gu_code == "11680" and stations["강남구"].slug == "gangnam-gu"
    assert (stations["종로"].name_en, stations["종로"].gu_code, stations["종로"].kind) == (
        "Jong-ro",
        "11110",
        "roadside",
    )
    assert stations["올림픽공원"].gu_code == "11710"


def test_reader_finds_columns_by_header_in_any_order_and_encoding(tmp_path):
    text = (
        "측정소명,측정일시,초미세먼지(㎍/㎥),미세먼지(㎍/㎥),이산화탄소농도(ppm),아황산가스(ppm),"
        "오존농도(ppm),이산화질소농도(ppm)\n"
        '종로구,2019-01-02,12,"1,234",0.4,-,0.02,0.03\n'
        ",,,,,,,\n"
    )
    path = tmp_path / "daily.csv"
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    assert list(read_daily_by_station(path)) == [
        DailyAirRecord(date(2019, 1, 2), "종로구", 0.03, 0.02, 0.4, None, 1234.0, 12.0)
    ]


def test_reader_errors_name_the_problem(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text("측정일시,측정소명,오존농도(ppm)\n20190101,중구,0.1\n", encoding="cp949")
    with pytest.raises(DatasetError, match="no column for co, no2, pm10, pm25, so2"):
        list(read_daily_by_station(path))
    header = "측정일시,측정소명,이산화질소농도,오존농도,일산화탄소농도,아황산가스농도,미세먼지농도,초미세먼지농도\n"
    path.write_text(header + "20190101,중구,0.1,0.1,0.1,0.1,abc,1\n", encoding="cp949")
    with pytest.raises(DatasetError, match=r"row 2: pm10: expected a number, got 'abc'"):
        list(read_daily_by_station(path))
    path.write_text(header + "2019011,중구,0.1,0.1,0.1,0.1,1,1\n", encoding="cp949")
    with pytest.raises(DatasetError, match="row 2: expected a date like 20190101"):
        list(read_daily_by_station(path))


def test_decode_text_detects_utf8_bom_and_cp949():
    assert decode_text("초미세먼지".encode("cp949")) == "초미세먼지"
    assert decode_text(codecs.BOM_UTF8 + "초미세먼지".encode()) == "초미세먼지"
    with pytest.raises(DatasetError, match="x.csv: not UTF-8 or cp949"):
        decode_text(b"\xff\xff\xff", source="x.csv")


@pytest.mark.parametrize(
    ("cell", "number"),
    [
        ("12", 12.0),
        (" 0.031 ", 0.031),
        ("1,234", 1234.0),
        ("12,345,678.5", 12345678.5),
        (7, 7.0),
        ("", None),
        ("-", None),
        ("nan", None),
        (None, None),
    ],
)
def test_parse_number(cell, number):
    assert parse_number(cell) == number


def test_parse_number_refuses_text():
    with pytest.raises(DatasetError, match="expected a number, got 'n.d.'"):
        parse_number("n.d.")


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999", " 1,000e999 ", float("inf")])
def test_parse_number_refuses_infinities(cell):
    """No reading is infinite, and JSON has no infinity (orjson writes one as null)."""
    with pytest.raises(DatasetError, match="expected a finite number"):
        parse_number(cell)


def test_parse_hour():
    assert parse_hour("2020-02-28 24:00") == datetime(2020, 2, 29, tzinfo=KST)
    with pytest.raises(DatasetError, match="hour out of range"):
        parse_hour("2020-02-28 24:30")
