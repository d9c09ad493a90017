"""The demo city publishes its three datasets; they serve rows through the Seoul OpenAPI."""

from __future__ import annotations

import asyncio

from conftest import free_port, running
from smartseoul.app import create_app
from smartseoul.config import Settings
from smartseoul.hub.store.sqlite import SqliteStore
from smartseoul.ingest.loader import load_into


def test_demo_publishes_air_water_and_cctv(tmp_path):
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port)

    async def load():
        store = SqliteStore(settings.sqlite_path)
        await store.open()
        try:
            return await load_into(store, settings, han_river_dir=None)
        finally:
            await store.close()

    summary = asyncio.run(load())
    assert any(n.startswith("open data: DailyAverageAirQuality") for n in summary["notes"])
    app = create_app(settings, store=SqliteStore(settings.sqlite_path))
    with running(app, port) as base:
        import httpx

        names = httpx.get(base + "/api/3/action/package_list").json()["result"]
        assert names == ["CctvByDistrict", "DailyAverageAirQuality", "HanRiverWaterLevel"]
        cctv = httpx.get(base + "/sample/json/CctvByDistrict/1/5/강남구").json()["CctvByDistrict"]
        assert cctv["row"] == [{"기관명": "강남구", "소계": 2780, "2013년도 이전": 1292,
                                "2014년": 430, "2015년": 584, "2016년": 932}]  # fmt: skip
        air = httpx.get(base + "/sample/json/DailyAverageAirQuality/1/5/20191231/종로구").json()
        row = air["DailyAverageAirQuality"]["row"][0]
        assert (row["MSRDT_DE"], row["MSRSTE_NM"], air["DailyAverageAirQuality"]["list_total_count"]) == (
            "20191231", "종로구", 1)
        assert isinstance(row["PM10"], int | float)
        water = httpx.get(base + "/sample/json/HanRiverWaterLevel/1/2").json()["HanRiverWaterLevel"]
        assert water["list_total_count"] > 0 and set(water["row"][0]) == {
            "YMDHM", "SITE_ID", "SITE_NM", "WATER_LEVEL_M", "FLOW_CMS"}
