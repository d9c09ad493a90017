"""Real seasons replayed through a real hub (SQLite): forecasts and alerts in the hub."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from flood_seasons import records
from lxml import etree
from synthetic_river import Pulse, write_season

from conftest import make_store
from smartseoul.config import Settings
from smartseoul.datasets import shipped_file
from smartseoul.datasets.han_river import read_han_river
from smartseoul.hub.broker import Broker
from smartseoul.hub.client import LocalHubClient
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.services.flood.cap import CAP_SCHEMA
from smartseoul.services.flood.model import GAUGE_CODES, fit_flood_model, series_from_records
from smartseoul.services.flood.service import (
    FLOOD_CONTEXT,
    FloodService,
    current_forecasts,
    current_warnings,
    flood_config,
    load_season,
    site_entities,
)

WARM_UP = 160  # steps of history loaded before the replay


def peak_window(year: int, before_h: int, after_h: int) -> tuple[list, list]:
    rows = records(year)
    peak = max(range(len(rows)), key=lambda i: rows[i].water_level_cm["1018683"] or 0)
    start, stop = peak - before_h * 6, peak + after_h * 6
    return rows[start - WARM_UP : start], rows[start:stop]


async def replay(tmp_path, year, levels, *, before_h=12, after_h=18, settings_extra=None):
    store = make_store("sqlite", tmp_path)
    await store.open()
    resolver = ContextResolver(store, Settings(data_dir=tmp_path))
    client = LocalHubClient(Broker(store), resolver)
    model = fit_flood_model([series_from_records(records(2016 if year != 2016 else 2013))])
    settings = Settings(data_dir=tmp_path, flood_levels=levels, flood_hold_minutes=60,
                        **(settings_extra or {}))  # fmt: skip
    warm, window = peak_window(year, before_h, after_h)
    try:
        await load_season(client, warm)
        service = FloodService(client, model, flood_config(settings))
        await service.start()
        log = []
        for row in window:
            entities, _ = site_entities([row])
            await client.upsert(entities, context=FLOOD_CONTEXT)
            for step in await service.poll():
                log.append(
                    (
                        row.time,
                        step.action,
                        step.alert.level.key,
                        step.alert.lead_minutes,
                        step.alert.subject,
                    )
                )
        # The same readings again (a redelivered notification): nothing new.
        entities, _ = site_entities(window[-1:])
        assert await service.handle(entities) == []
        alerts = await client.query(type="Alert", context=FLOOD_CONTEXT, key_values=True)
        history = await client.history(
            [a["id"] for a in alerts], attrs=["capMessage"], context=FLOOD_CONTEXT,
            time_at="2000-01-01T00:00:00Z", end_time_at="2100-01-01T00:00:00Z",
        )  # fmt: skip
        forecasts = await current_forecasts(client)
        warnings = await current_warnings(client)
        return log, alerts, history, forecasts, warnings
    finally:
        await resolver.close()
        await store.close()


def test_2013_flood_official_levels(tmp_path):
    log, alerts, history, forecasts, warnings = asyncio.run(
        replay(tmp_path, 2013, "1018683=8.5:10.5", before_h=8, after_h=14)
    )
    actions = [(action, level) for _, action, level, _, _ in log]
    # Hangang Bridge peaked at 8.57 m: one flood advisory, issued ahead, then cancelled.
    assert actions[0] == ("issue", "floodAdvisory")
    assert actions[-1] == ("cancel", "floodAdvisory")
    assert [a for a, _ in actions].count("issue") == 1
    assert log[0][3] > 0, "issued from the forecast, ahead of the observation"
    assert len(alerts) == 1 and alerts[0]["alertStatus"] == "cancelled"
    assert alerts[0]["subject"] == "1018683" and alerts[0]["severity"] == "high"
    assert warnings == []
    assert sorted(f["code"] for f in forecasts) == ["1018662", "1018680", "1018683", "1019630"]
    assert all(len(f["waterLevelForecast"]) == 18 for f in forecasts)
    schema = etree.XMLSchema(etree.parse(str(shipped_file(CAP_SCHEMA))))
    messages = history[alerts[0]["id"]]["capMessage"]
    assert len(messages) == len(log)
    for message in messages:
        schema.assertValid(etree.fromstring(message["value"].encode("utf-8")))


def test_2016_flood_escalates_and_cancels(tmp_path):
    # Lower thresholds at every gauge so that 2016's flood climbs through both of them.
    levels = "1018683=6.0:7.0,1018662=7.0:8.5,1019630=5.5:6.2"
    log, alerts, _, _, warnings = asyncio.run(
        replay(tmp_path, 2016, levels, before_h=8, after_h=20)
    )
    by_gauge: dict[str, list[str]] = {}
    for alert in alerts:
        by_gauge.setdefault(alert["subject"], []).append(alert["alertStatus"])
    assert set(by_gauge) == {"1018683", "1018662", "1019630"}
    assert all(set(statuses) == {"cancelled"} for statuses in by_gauge.values()), by_gauge
    # Per gauge, alerts alternate issue ... cancel: never two live at once.
    for subject in by_gauge:
        actions = [
            action
            for *_, action_subject in [(a, s) for _, a, _, _, s in log]
            for action in [action_subject[0]]
            if action_subject[1] == subject
        ]
        lifecycle = [a for a in actions if a in ("issue", "cancel")]
        assert lifecycle == ["issue", "cancel"] * (len(lifecycle) // 2), (subject, actions)
    actions = [action for _, action, *_ in log]
    assert "escalate" in actions
    escalated = [(level, lead) for _, action, level, lead, _ in log if action == "escalate"]
    assert all(level == "floodWarning" for level, _ in escalated)
    assert warnings == []
    times = [t for t, *_ in log]
    assert times == sorted(times) and times[-1] - times[0] < timedelta(hours=48)


def test_rain_gauges_issue_a_gu_pre_warning(tmp_path):
    async def run() -> list:
        store = make_store("sqlite", tmp_path)
        await store.open()
        resolver = ContextResolver(store, Settings(data_dir=tmp_path))
        client = LocalHubClient(Broker(store), resolver)
        model = fit_flood_model([series_from_records(records(2019)[:2000])])
        service = FloodService(client, model, flood_config(Settings(data_dir=tmp_path)))
        rain = [0.5, 1.0, 6.0, 9.0, 8.0, 2.0] + [0.0] * 16  # every 5 minutes from 12:00 UTC
        log = []
        try:
            for i, mm in enumerate(rain):
                entity = {
                    "id": "urn:ngsi-ld:WeatherObserved:seoul:gangnam-1",
                    "type": "WeatherObserved",
                    "district": {"type": "Property", "value": "11230"},
                    "precipitation": {
                        "type": "Property", "value": mm, "unitCode": "MMT",
                        "observedAt": f"2022-08-08T{12 + i // 12}:{5 * (i % 12):02d}:00Z",
                    },
                }  # fmt: skip
                await client.upsert([entity], context=FLOOD_CONTEXT)
                log += [(i, s.action) for s in await service.poll()]
            alerts = await client.query(type="Alert", context=FLOOD_CONTEXT, key_values=True)
        finally:
            await resolver.close()
            await store.close()
        return [log, alerts]

    log, alerts = asyncio.run(run())
    # 6 + 9 + 8 = 23 mm in the 15 minutes to 12:20; below both rules from 12:25 (19 mm),
    # for an hour (the hold) at 13:25.
    assert log == [(4, "issue"), (17, "cancel")]
    assert len(alerts) == 1 and alerts[0]["subCategory"] == "rainfall"


def test_a_late_reading_fills_the_buffer_but_is_not_forecast(tmp_path):
    """Notifications may come out of order (retries, several in flight): a step older than
    the newest forecast must not overwrite it, but later forecasts use its values."""
    start = datetime(2025, 7, 1, tzinfo=UTC)
    season = write_season(tmp_path / "data_2025.csv", start, range(400), [Pulse(9000, 250, 20)])
    rows = list(read_han_river(season))
    warm, (late, ahead, last) = rows[:300], rows[300:303]

    async def run() -> tuple:
        store = make_store("sqlite", tmp_path)
        await store.open()
        resolver = ContextResolver(store, Settings(data_dir=tmp_path))
        client = LocalHubClient(Broker(store), resolver)
        model = fit_flood_model([series_from_records(rows[:300])])
        try:
            await load_season(client, warm)
            service = FloodService(client, model, flood_config(Settings(data_dir=tmp_path)))
            await service.start()
            await service.handle(site_entities([ahead])[0])
            late_steps = await service.handle(site_entities([late])[0])
            after_late = await client.query(type="WaterLevelForecast", context=FLOOD_CONTEXT)
            await service.handle(site_entities([last])[0])
            final = await current_forecasts(client)
        finally:
            await resolver.close()
            await store.close()
        return model, late_steps, after_late, final

    model, late_steps, after_late, final = asyncio.run(run())
    assert late_steps == []
    stamp = ahead.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [f["waterLevelForecast"]["observedAt"] for f in after_late] == [stamp] * 4
    expected = model.forecast_latest(series_from_records(rows[:303]))
    by_code = {f["code"]: f["waterLevelForecast"] for f in final}
    for g, code in enumerate(GAUGE_CODES):
        assert by_code[code] == [round(float(h) / 100, 3) for h in expected[g]]
