"""The simulated S-DoT network: plausible readings, and live updates over MQTT and HTTP."""

from __future__ import annotations

import asyncio
import doctest
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from shapely.geometry import Point

from conftest import MQTT_HOST, free_port, running, service_missing
from smartseoul.app import create_app
from smartseoul.config import Settings
from smartseoul.datasets.boundaries import read_districts
from smartseoul.hub.client import HttpHubClient
from smartseoul.ingest import simulator as simulator_module
from smartseoul.ingest.devices import IOT_CONTEXT
from smartseoul.ingest.iot_agent import IotAgent
from smartseoul.ingest.simulator import (
    MqttTransport,
    SdotSimulator,
    attach_simulator,
    mqtt_reachable,
    sdot_fleet,
    sdot_reading,
)

KST = timezone(timedelta(hours=9))
ENV = "urn:ngsi-ld:EnvironmentObserved:sdot:"
AIR = "urn:ngsi-ld:AirQualityObserved:sdot:"
# Sane bounds for Seoul, whatever the season and hour.
RANGES = {
    "t": (-25, 40), "h": (10, 100), "l": (0, 120_000), "uv": (0, 11), "n": (35, 95),
    "v": (0, 1), "wd": (0, 360), "ws": (0, 15), "pm10": (1, 400), "pm25": (1, 300),
    "vc": (0, 1000),
}  # fmt: skip


def test_docstring_examples_run():
    assert doctest.testmod(simulator_module).failed == 0


def test_fleet_sits_inside_each_gu_with_its_real_pm_level():
    fleet = sdot_fleet(3)
    districts = {d.code: d for d in read_districts()}
    assert len(fleet) == 75 and len({s.device_id for s in fleet}) == 75
    assert {s.gu_code for s in fleet} == set(districts)
    for sensor in fleet:
        assert districts[sensor.gu_code].shape.contains(Point(sensor.lon, sensor.lat))
        assert 10 < sensor.pm25 < sensor.pm10 < 120
    # The levels come from the gu's station data, not one city-wide constant.
    assert len({s.pm10 for s in fleet}) > 10
    assert sdot_fleet(3) == fleet  # reproducible


def test_readings_are_plausible_and_follow_the_day():
    sensor = sdot_fleet(1)[0]
    rng = random.Random(3)
    for month in (1, 4, 7, 10):
        by_hour: dict[int, list[dict]] = {}
        for day in range(1, 8):  # a week: weekdays and a weekend
            for hour in range(24):
                moment = datetime(2026, month, day, hour, tzinfo=KST).timestamp()
                reading = sdot_reading(sensor, moment, rng)
                assert set(reading) == set(RANGES)
                for name, (low, high) in RANGES.items():
                    assert low <= reading[name] <= high, (month, hour, name, reading)
                assert isinstance(reading["vc"], int) and reading["pm25"] < reading["pm10"]
                by_hour.setdefault(hour, []).append(reading)

        def mean(hour: int, name: str, by_hour=by_hour) -> float:
            return sum(r[name] for r in by_hour[hour]) / len(by_hour[hour])

        assert mean(15, "t") > mean(5, "t") + 5  # warm afternoons, cool dawns
        assert mean(15, "h") < mean(5, "h")
        assert mean(2, "l") < 50 and mean(12, "l") > 10_000  # street lights vs daylight
        assert mean(2, "uv") == 0 and mean(12, "uv") >= 1
        assert mean(18, "n") > mean(3, "n") + 8  # evening traffic
        assert mean(19, "vc") > 3 * mean(3, "vc")
    january = sdot_reading(sensor, datetime(2026, 1, 10, 14, tzinfo=KST).timestamp(), rng)
    august = sdot_reading(sensor, datetime(2026, 8, 10, 14, tzinfo=KST).timestamp(), rng)
    assert august["t"] > january["t"] + 15


def observed(hub, sensors: list[str]) -> dict[str, dict]:
    """Latest temperature, peopleCount and pm10 attributes of each simulated sensor."""
    out = {}
    for device_id in sensors:
        env = hub.http.get(
            f"/entities/{ENV}{device_id}",
            params={"attrs": IOT_CONTEXT["temperature"] + "," + IOT_CONTEXT["peopleCount"]},
        )
        air = hub.http.get(f"/entities/{AIR}{device_id}", params={"attrs": IOT_CONTEXT["pm10"]})
        assert env.status_code == 200 and air.status_code == 200, (env.text, air.text)
        out[device_id] = {**env.json(), **air.json()}
    return out


def assert_live(before: dict[str, dict], after: dict[str, dict]) -> None:
    """Every sensor reported again: newer observedAt, sane values, correct units."""
    t, people, pm10 = IOT_CONTEXT["temperature"], IOT_CONTEXT["peopleCount"], IOT_CONTEXT["pm10"]
    now = time.time()
    for device_id, entity in after.items():
        old = before[device_id]
        assert entity[t]["observedAt"] > old[t]["observedAt"], device_id
        stamp = datetime.fromisoformat(entity[t]["observedAt"].replace("Z", "+00:00")).timestamp()
        assert now - 30 < stamp <= now + 1
        assert -25 <= entity[t]["value"] <= 40 and entity[t]["unitCode"] == "CEL"
        assert 1 <= entity[pm10]["value"] <= 400 and entity[pm10]["unitCode"] == "GQ"
        assert isinstance(entity[people]["value"], int) and entity[people]["value"] >= 0
    # Random readings: across the fleet, some values moved.
    assert any(after[d][t]["value"] != before[d][t]["value"] for d in after)


async def wait_reported(fetch, sensors, *, newer_than=None, timeout=15.0):
    """Poll until every sensor's temperature exists (and is newer than ``newer_than``)."""
    t = IOT_CONTEXT["temperature"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = await asyncio.to_thread(fetch, sensors)
            if all(
                t in e
                and (newer_than is None or e[t]["observedAt"] > newer_than[d][t]["observedAt"])
                for d, e in state.items()
            ):
                return state
        except AssertionError:
            pass  # targets not yet provisioned
        assert time.monotonic() < deadline, "simulated sensors did not report in time"
        await asyncio.sleep(0.2)


def test_simulator_publishes_over_mosquitto_and_the_hub_changes(hub):
    if not mqtt_reachable(f"mqtt://{MQTT_HOST}:1883"):
        service_missing(f"Mosquitto not reachable at {MQTT_HOST}:1883")
    prefix = f"smartseoul-test-{uuid.uuid4().hex[:8]}"  # isolates this test on a shared broker
    url = f"mqtt://{MQTT_HOST}:1883"
    fleet = sdot_fleet(1)[:6]
    ids = [s.device_id for s in fleet]

    async def run() -> None:
        client = HttpHubClient(hub.api)
        agent = IotAgent(client, topic_prefix=prefix)
        await agent.start(mqtt_url=url)
        transport = MqttTransport(url, topic_prefix=prefix)
        simulator = SdotSimulator(agent, transport, fleet, interval=0.6)
        await simulator.start()
        try:
            first = await wait_reported(lambda s: observed(hub, s), ids)
            second = await wait_reported(lambda s: observed(hub, s), ids, newer_than=first)
            assert_live(first, second)
        finally:
            await simulator.stop()
            await agent.stop()
            await client.close()
        assert simulator.sent >= 2 * len(fleet) and simulator.failed == 0
        assert agent.stats.messages["mqtt"] >= 2 * len(fleet)
        assert sum(agent.stats.rejected.values()) == 0, agent.stats.as_dict()
        assert agent.stats.measurements >= 2 * 11 * len(fleet)

    asyncio.run(run())
    # Every report is also history: two or more instances per sensor.
    history = hub.http.get(
        f"/temporal/entities/{AIR}{ids[0]}", params={"attrs": IOT_CONTEXT["pm25"]}
    )
    assert history.status_code == 200, history.text
    assert len(history.json()[IOT_CONTEXT["pm25"]]) >= 2
    device = hub.http.get(f"/entities/urn:ngsi-ld:Device:{ids[0]}", params={"options": "keyValues"})
    assert device.json()[IOT_CONTEXT["deviceState"]] == "ok"


@pytest.mark.slow
def test_demo_app_falls_back_to_http_when_mqtt_is_unreachable(tmp_path: Path):
    unreachable = f"mqtt://127.0.0.1:{free_port()}"
    assert not mqtt_reachable(unreachable)
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port, iot_mqtt_url=""))
    attach_simulator(app, interval=0.8, per_gu=1, mqtt_url=None)
    with running(app, port) as base:
        from conftest import Hub

        hub = Hub(base, "sqlite", app.state.store, app)
        ids = ["SIM1111001", "SIM1168001", "SIM1174001"]  # Jongno, Gangnam, Gangdong

        async def watch() -> None:
            first = await wait_reported(lambda s: observed(hub, s), ids)
            second = await wait_reported(lambda s: observed(hub, s), ids, newer_than=first)
            assert_live(first, second)

        asyncio.run(watch())
        simulator = app.state.simulator
        assert simulator.transport.name == "HTTP" and simulator.failed == 0
        agent = app.state.iot_agent
        assert agent.stats.messages["http"] >= 2 * 3 and agent.stats.messages["mqtt"] == 0
        devices = hub.http.get(
            "/entities",
            params={"type": IOT_CONTEXT["Device"], "limit": 100, "options": "keyValues"},
        ).json()
        assert len(devices) == 25
        hub.http.close()
    # The lifespan stopped the simulator before the hub: no task left running.
    assert simulator._task is None and simulator.transport._http is None
