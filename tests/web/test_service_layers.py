"""The map shows what the city services write: flood forecasts and alerts, CCTV plans.

The 2013 flood is replayed through the real flood service into a hub (the official
Hangang Bridge levels issue a flood advisory ahead of the peak); the page then lists and
draws the WaterLevelForecast and Alert layers from the hub, as it does any other type. The
safety service's plan, written through the hub's HTTP API, gets its own layer too.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from web_city import chromium, open_map

from conftest import SHARED_DATA, free_port, running
from smartseoul.app import create_app
from smartseoul.config import Settings
from smartseoul.hub.broker import Broker
from smartseoul.hub.client import LocalHubClient
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.hub.store.sqlite import SqliteStore

HAN_RIVER = SHARED_DATA / "han-river"


def _season(year: int) -> list:
    from smartseoul.datasets.han_river import read_han_river

    path = HAN_RIVER / f"data_{year}.csv"
    if not path.is_file():
        pytest.skip(f"Han River season {year} not found at {path} (../shared/data is not shipped)")
    return list(read_han_river(path))


async def _replay_2013(settings: Settings) -> int:
    """Replay the hours before the 2013 Hangang Bridge peak; returns the alerts issued."""
    from smartseoul.services.flood.model import fit_flood_model, series_from_records
    from smartseoul.services.flood.service import (
        FLOOD_CONTEXT,
        FloodService,
        flood_config,
        load_season,
        site_entities,
    )

    rows = _season(2013)
    peak = max(range(len(rows)), key=lambda i: rows[i].water_level_cm["1018683"] or 0)
    warm, window = rows[peak - 8 * 6 - 160 : peak - 8 * 6], rows[peak - 8 * 6 : peak]
    model = fit_flood_model([series_from_records(_season(2016))])
    store = SqliteStore(settings.sqlite_path)
    await store.open()
    resolver = ContextResolver(store, settings)
    client = LocalHubClient(Broker(store), resolver)
    issued = 0
    try:
        await load_season(client, warm)
        service = FloodService(client, model, flood_config(settings))
        await service.start()
        for row in window:
            entities, _ = site_entities([row])
            await client.upsert(entities, context=FLOOD_CONTEXT)
            issued += sum(step.action == "issue" for step in await service.poll())
        await service.stop()
    finally:
        await resolver.close()
        await store.close()
    return issued


def test_forecasts_and_alerts_of_the_flood_service_are_drawn(tmp_path):
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port, flood_levels="1018683=8.5:10.5")
    with ThreadPoolExecutor(1) as pool:  # playwright's sync API may run a loop in this thread
        issued = pool.submit(asyncio.run, _replay_2013(settings)).result()
    assert issued == 1  # the flood advisory, ahead of the 8.57 m peak
    with running(create_app(settings), port) as base, chromium() as browser:
        page = open_map(browser, base)
        layers = page.locator("#layer-list li").all_inner_texts()
        assert any("수위 예측" in x and "(4)" in x for x in layers), layers  # four gauges
        assert any("경보" in x and "(1)" in x for x in layers), layers
        ids = page.evaluate(
            "[...document.querySelectorAll('#entity-table tbody tr')].map(r => r.dataset.id)"
        )
        assert sum(i.startswith("urn:ngsi-ld:WaterLevelForecast:") for i in ids) == 4, ids
        assert sum(i.startswith("urn:ngsi-ld:Alert:") for i in ids) == 1, ids
        if page.evaluate("document.documentElement.dataset.map") == "webgl":
            drawn = ("smartseoul.twin.map.queryRenderedFeatures().map(f => f.properties.id)"
                     ".filter(i => i && i.startsWith('urn:ngsi-ld:WaterLevelForecast:'))"
                     ".length")  # fmt: skip
            page.wait_for_function(f"{drawn} > 0", timeout=10_000)
        assert page.errors == []
        page.close()


def test_a_cctv_coverage_plan_of_the_safety_service_is_listed(tmp_path):
    from smartseoul.hub.client import HttpHubClient
    from smartseoul.services.safety.inputs import points_from_records
    from smartseoul.services.safety.service import SiteInputs, plan_sites, write_plan

    demand = [
        {"id": "a", "lon": 126.9780, "lat": 37.5665, "weight": 2},
        {"id": "c", "lon": 127.0276, "lat": 37.4979, "weight": 4},
    ]
    candidates = [
        {"id": "hall", "lon": 126.9785, "lat": 37.5666},
        {"id": "gangnam", "lon": 127.0275, "lat": 37.4980},
    ]

    async def plan(api: str) -> str:
        client = HttpHubClient(api)
        try:
            inputs = SiteInputs.of(points_from_records(demand), points_from_records(candidates))
            problem, result = plan_sites(inputs, radius=150, facilities=1)
            return await write_plan(client, result, problem, inputs.candidates, name="map test",
                                    facilities=1, plan_id="urn:ngsi-ld:CoveragePlan:map")  # fmt: skip
        finally:
            await client.close()

    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port)
    with running(create_app(settings), port) as base, chromium() as browser:
        with ThreadPoolExecutor(1) as pool:
            plan_id = pool.submit(asyncio.run, plan(f"{base}/ngsi-ld/v1")).result()
        page = open_map(browser, base)
        layers = page.locator("#layer-list li").all_inner_texts()
        assert any("CCTV 배치 계획" in x and "(1)" in x for x in layers), layers
        ids = page.evaluate(
            "[...document.querySelectorAll('#entity-table tbody tr')].map(r => r.dataset.id)"
        )
        assert plan_id in ids, ids
        assert page.errors == []
        page.close()
