"""MQTT readings survive a killed hub: acknowledged once written, kept in a broker session.

A hub process on the real Mosquitto (and SQLite or PostgreSQL) is killed with SIGKILL while
devices publish, and more is published while it is down; the restarted process must store
every reading. Before, paho acknowledged each message on receipt on a clean session: what
was queued in memory and everything sent during the downtime was lost.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from conftest import MQTT_HOST, HubProcesses, require_mqtt
from smartseoul.ingest.mqtt_listener import MqttListener

T0 = 1_780_000_000  # 2026-05-28: each reading's ts is T0 + its number


class HubProcess(HubProcesses):
    """Hub processes with their IoT agent on the local Mosquitto."""

    def __init__(self, backend: str, tmp_path: Path):
        super().__init__(
            backend, tmp_path, env={"SMARTSEOUL_IOT_MQTT_URL": f"mqtt://{MQTT_HOST}:1883"}
        )

    def kill(self) -> None:
        """SIGKILL the last process started: no clean stop, its MQTT session stays."""
        self.procs[-1].send_signal(signal.SIGKILL)
        self.procs[-1].wait()


@pytest.fixture
def hub_process(backend: str, tmp_path: Path):
    require_mqtt()
    process = HubProcess(backend, tmp_path)
    yield process
    process.close()


class Probe:
    """A device of its own (its own topic on a shared broker) and a publisher for it."""

    def __init__(self) -> None:
        self.device = f"k9-{uuid.uuid4().hex[:8]}"
        self.entity_id = f"urn:ngsi-ld:Probe:{self.device}"
        self.publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.publisher.connect(MQTT_HOST, 1883)
        self.publisher.loop_start()

    def provision(self, base: str) -> None:
        spec = {"id": self.device, "apikey": "k9", "entityId": self.entity_id,
                "entityType": "Probe", "measures": {"n": {"attr": "count", "type": "Integer"}}}  # fmt: skip
        assert httpx.post(base + "/iot/devices", json=spec, timeout=10).status_code == 201

    def publish(self, numbers: range) -> None:
        for i in numbers:
            body = b'{"n": %d, "ts": %d}' % (i, T0 + i)
            topic = f"smartseoul/k9/{self.device}/attrs"
            self.publisher.publish(topic, body, qos=1).wait_for_publish(5)

    def stored(self, base: str, count: int) -> list[int]:
        """The stored values once ``count`` distinct ones are there (at most 30 s)."""
        deadline = time.monotonic() + 30
        while len(set(values := stored_counts(base, self.entity_id))) < count:
            assert time.monotonic() < deadline, f"{len(set(values))} of {count} readings stored"
            time.sleep(0.1)
        return values

    def close(self) -> None:
        self.publisher.loop_stop()
        self.publisher.disconnect()


@pytest.fixture
def probe():
    device = Probe()
    yield device
    device.close()


def stored_counts(base: str, entity_id: str) -> list[int]:
    """Every stored instance of the probe's ``count``, in time order."""
    answer = httpx.get(
        f"{base}/ngsi-ld/v1/temporal/entities/{entity_id}",
        params={"attrs": "count", "options": "temporalValues"},
        timeout=10,
    )
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return [value for value, _ in answer.json().get("count", {}).get("values", [])]


@pytest.mark.slow
def test_a_killed_hub_loses_no_mqtt_reading(hub_process: HubProcess, probe: Probe):
    base = hub_process.start()
    probe.provision(base)
    probe.publish(range(0, 200))
    probe.stored(base, 1)  # the session is there and writing
    # Killed right after a burst: the last readings are received, not yet written.
    probe.publish(range(200, 400))
    hub_process.kill()
    probe.publish(range(400, 600))  # while no hub is connected
    base = hub_process.start()
    # At least once: a reading written but not yet acknowledged when the process died
    # comes again, and is stored again with the same value and time.
    assert set(probe.stored(base, 600)) == set(range(600))


@pytest.mark.slow
def test_workers_of_one_hub_split_the_readings_and_two_hubs_each_get_all(
    backend: str, tmp_path: Path, probe: Probe
):
    """Every app subscribed in one shared group, "smartseoul-iot": two hubs on one broker
    (two stores) split each other's device traffic, each storing about half of it."""
    require_mqtt()
    one, other = HubProcess(backend, tmp_path / "one"), HubProcess(backend, tmp_path / "other")
    try:
        workers = [one.start(), one.start()]  # two workers: one store, one data directory
        elsewhere = other.start()
        probe.provision(workers[0])
        probe.provision(elsewhere)
        probe.publish(range(100))
        assert sorted(probe.stored(workers[0], 100)) == list(range(100))  # each once
        assert sorted(probe.stored(elsewhere, 100)) == list(range(100))
    finally:
        one.close()
        other.close()


def test_a_clean_stop_ends_the_session_and_a_lost_connection_keeps_it():
    require_mqtt()
    client_id = f"smartseoul-test-{uuid.uuid4().hex[:8]}"
    topic = f"smartseoul-test-{uuid.uuid4().hex[:8]}/+/+/attrs"

    def session_present() -> bool:
        """Connect as the listener's client id and say whether the broker kept its session."""
        found = threading.Event()
        probe = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        answers: list[bool] = []
        probe.on_connect = lambda c, u, flags, rc, p: (
            answers.append(flags.session_present), found.set()
        )
        probe.connect(MQTT_HOST, 1883, clean_start=False)
        probe.loop_start()
        assert found.wait(5)
        probe.disconnect()  # the probe's own session expiry is 0: this ends the session
        probe.loop_stop()
        return answers[0]

    async def listen() -> MqttListener:
        listener = MqttListener(
            lambda *message: None, f"mqtt://{MQTT_HOST}:1883", topic=topic,
            client_id=client_id, session_expiry=60,
        )  # fmt: skip
        await listener.start()
        return listener

    async def scenario() -> tuple[bool, bool]:
        listener = await listen()
        await listener.stop()
        after_stop = session_present()
        listener = await listen()
        client = listener._client
        client.loop_stop()
        client.socket().close()  # as if the process had died: no DISCONNECT
        await asyncio.sleep(0.3)
        after_loss = session_present()
        return after_stop, after_loss

    after_stop, after_loss = asyncio.run(scenario())
    assert after_stop is False
    assert after_loss is True
