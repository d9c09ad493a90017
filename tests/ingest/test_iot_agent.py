"""The IoT agent against a real hub (SQLite and PostgreSQL) and the real Mosquitto broker."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import orjson
import paho.mqtt.client as mqtt
from starlette.applications import Starlette
from starlette.routing import Mount

from conftest import MQTT_HOST, make_store, require_mqtt
from smartseoul.config import Settings
from smartseoul.hub.broker import Broker
from smartseoul.hub.client import HttpHubClient, LocalHubClient
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.ingest.api import routes
from smartseoul.ingest.devices import IOT_CONTEXT, Device, Measure, Target
from smartseoul.ingest.iot_agent import IotAgent
from smartseoul.ingest.sdot import sdot_device

CTX = IOT_CONTEXT
ENV = "urn:ngsi-ld:EnvironmentObserved:sdot:"
AIR = "urn:ngsi-ld:AirQualityObserved:sdot:"


def run_local(backend, tmp_path, scenario, **options):
    """Run ``scenario(agent, client)`` with an agent on an in-process hub of its own."""
    store = make_store(backend, tmp_path)

    async def run() -> None:
        await store.open()
        resolver = ContextResolver(store, Settings(data_dir=tmp_path))
        client = LocalHubClient(Broker(store), resolver)
        agent = IotAgent(client, **options)
        await agent.start()
        try:
            await scenario(agent, client)
        finally:
            await agent.stop()
            await resolver.close()
            await store.close()
            if backend == "postgres":
                await store.drop()

    asyncio.run(run())


def probe_device(device_id: str = "probe-1", apikey: str = "k1", **options) -> Device:
    return Device(
        device_id,
        apikey,
        targets={"main": Target(f"urn:ngsi-ld:Probe:{device_id}", "Probe")},
        measures={
            "t": Measure("temperature", "Number", "CEL"),
            "h": Measure("relativeHumidity", "Number", "P1"),
            "p": Measure("pressure", "Integer", "A97"),
        },
        **options,
    )


def test_readings_land_on_targets_with_units_and_time(backend, tmp_path):
    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        point = {"type": "Point", "coordinates": [126.978, 37.5665]}
        await agent.provision([sdot_device("S1", "seoul", location=point)])
        body = (
            b'{"t": 21.5, "h": 40, "pm10": 33, "vc": "12", "TimeInstant": "2026-05-01T09:00:00Z"}'
        )
        receipt = await agent.handle("seoul", "S1", body)
        assert receipt.accepted == 4 and receipt.rejections == []
        env = await client.get(ENV + "S1", context=CTX)
        assert env["type"] == "EnvironmentObserved"
        assert env["temperature"] == {
            "type": "Property", "value": 21.5, "unitCode": "CEL",
            "observedAt": "2026-05-01T09:00:00.000Z",
        }  # fmt: skip
        assert env["relativeHumidity"]["unitCode"] == "P1"
        assert env["peopleCount"]["value"] == 12 and env["peopleCount"]["unitCode"] == "C62"
        assert env["location"]["value"] == point
        assert env["refDevice"]["object"] == "urn:ngsi-ld:Device:S1"
        air = await client.get(AIR + "S1", context=CTX, key_values=True)
        assert air["type"] == "AirQualityObserved" and air["pm10"] == 33
        device = await client.get("urn:ngsi-ld:Device:S1", context=CTX, key_values=True)
        assert device["type"] == "Device" and device["deviceState"] == "ok"
        assert device["deviceProfile"] == "sdot" and device["refTarget"] == ENV + "S1"
        assert device["dateLastValueReported"].endswith("Z")
        assert device["measurementMap"]["json"]["pm25"] == {  # keyValues of a JsonProperty
            "attr": "pm25", "type": "Number", "unitCode": "GQ", "target": "air",
        }  # fmt: skip
        # Without a timestamp the receive time is the observation time.
        before = time.time()
        await agent.handle("seoul", "S1", b"t|22.0")
        env = await client.get(ENV + "S1", context=CTX)
        observed = env["temperature"]["observedAt"]
        assert observed.endswith("Z") and observed >= time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(before - 1)
        )

    run_local(backend, tmp_path, scenario)


def test_bad_parts_counted_and_good_readings_kept_over_http(backend, tmp_path):
    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        app = Starlette(routes=[Mount("/iot", routes=routes)])
        app.state.iot_agent = agent
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            spec = {"id": "probe-1", "apikey": "k1", "entityId": "urn:ngsi-ld:Probe:probe-1",
                    "entityType": "Probe", "measures": {"t": {"attr": "temperature",
                    "unitCode": "CEL"}, "h": "relativeHumidity", "p": {"attr": "pressure",
                    "type": "Integer"}}}  # fmt: skip
            created = await http.post("/iot/devices", json=spec)
            assert created.status_code == 201, created.text
            bad_spec = await http.post("/iot/devices", json={"id": "x", "apikey": "k"})
            assert bad_spec.status_code == 400 and "measures" in bad_spec.json()["detail"]
            # An attribute name the hub would refuse on every reading is refused up front.
            for attr, why in (("bad name", "Invalid attribute name"), ("a" * 1000, "longer")):
                odd = {**spec, "id": "probe-2", "measures": {"t": attr}}
                refused = await http.post("/iot/devices", json=odd)
                assert refused.status_code == 400, refused.text
                assert "measures.t.attr" in refused.json()["detail"]
                assert why in refused.json()["detail"]

            text = await http.post(
                "/iot/k1/probe-1/attrs", content=b"t|21.5|h|oops|p|3|zz|1",
                headers={"Content-Type": "text/plain"},
            )  # fmt: skip
            assert text.status_code == 200
            assert text.json()["accepted"] == 2
            assert {(r["reason"], r["measure"]) for r in text.json()["rejected"]} == {
                ("bad_value", "h"),
                ("unmapped_measure", "zz"),
            }
            probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
            assert probe["temperature"] == 21.5 and probe["pressure"] == 3
            assert "relativeHumidity" not in probe

            ul = await http.post("/iot/d?k=k1&i=probe-1", content=b"h|41")
            assert ul.status_code == 200 and ul.json()["accepted"] == 1
            # One instant holds one value: both were counted as accepted, the last was kept.
            twice = await http.post("/iot/k1/probe-1/attrs", content=b"p|4|p|5")
            assert twice.json()["accepted"] == 1
            assert [r["reason"] for r in twice.json()["rejected"]] == ["duplicate_reading"]
            probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
            assert probe["pressure"] == 5
            assert (await http.post("/iot/nope/probe-1/attrs", content=b"t|1")).status_code == 403
            assert (await http.post("/iot/k1/ghost/attrs", content=b"t|1")).status_code == 404
            # A message over 1 MiB is refused before it is parsed (it was parsed whole).
            huge = b'{"t": 1, "note": "' + b"x" * (1 << 20) + b'"}'
            too_large = await http.post("/iot/k1/probe-1/attrs", content=huge)
            assert too_large.status_code == 413
            assert too_large.json()["refused"] == "payload_too_large"
            assert agent.stats.rejected["payload_too_large"] == 1
            malformed = await http.post("/iot/k1/probe-1/attrs", content=b"{broken")
            assert malformed.status_code == 400

            stats = (await http.get("/iot/stats")).json()
            assert stats["measurements"] == 4 and stats["messages"] == {"http": 7}
            assert stats["rejected"]["duplicate_reading"] == 1
            assert stats["rejected"]["bad_value"] == 1
            assert stats["rejected"]["unmapped_measure"] == 1
            assert stats["rejected"]["wrong_apikey"] == 1
            assert stats["rejected"]["unknown_device"] == 1
            assert stats["rejected"]["malformed_payload"] == 1
            assert stats["devices"] == {"ok": 1}
            assert stats["recentRejections"][-1]["device"] == "probe-1"
            metrics = (await http.get("/iot/metrics")).text
            assert 'smartseoul_iot_rejected_total{reason="bad_value"} 1' in metrics
            assert "smartseoul_iot_measurements_total 4" in metrics
            listed = (await http.get("/iot/devices")).json()
            assert [d["id"] for d in listed] == ["urn:ngsi-ld:Device:probe-1"]
            assert "apikey" not in listed[0]
            assert (await http.get("/iot/devices/probe-1")).json()["deviceState"]["value"] == "ok"

    run_local(backend, tmp_path, scenario)


def test_nul_text_is_a_bad_value_and_unstored_readings_are_not_acknowledged(backend, tmp_path):
    """A Text reading holding U+0000 (which the hub refuses) is rejected alone; when the hub
    cannot store a batch, the HTTP answer says so (503, write_failed) instead of 200."""

    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        app = Starlette(routes=[Mount("/iot", routes=routes)])
        app.state.iot_agent = agent
        device = probe_device()
        device.measures["s"] = Measure("status", "Text", None)
        await agent.provision([device])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            mixed = await http.post("/iot/k1/probe-1/attrs", json={"t": 21.5, "s": "o\x00k"})
            assert mixed.status_code == 200, mixed.text
            assert mixed.json()["accepted"] == 1
            assert [(r["reason"], r["measure"]) for r in mixed.json()["rejected"]] == [
                ("bad_value", "s")
            ]
            probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
            assert probe["temperature"] == 21.5 and "status" not in probe

            store = client.broker.store
            await store.close()  # the database goes away
            try:
                lost = await http.post("/iot/k1/probe-1/attrs", json={"t": 30.0, "s": "ok"})
            finally:
                await store.open()
            assert lost.status_code == 503, lost.text
            assert lost.json()["accepted"] == 0
            assert [(r["reason"], r["measure"]) for r in lost.json()["rejected"]] == [
                ("write_failed", "urn:ngsi-ld:Probe:probe-1")
            ]
            probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
            assert probe["temperature"] == 21.5
            stats = (await http.get("/iot/stats")).json()
            assert stats["rejected"]["bad_value"] == 1 and stats["rejected"]["write_failed"] >= 1

    run_local(backend, tmp_path, scenario)


def test_silence_is_marked_and_cleared(backend, tmp_path):
    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        await agent.provision([probe_device(interval=0.2, silence_after=2)])
        await agent.handle("k1", "probe-1", b"t|20")
        reported = (await client.get("urn:ngsi-ld:Device:probe-1", context=CTX, key_values=True))[
            "dateLastValueReported"
        ]
        await asyncio.sleep(0.25)  # one interval: not yet silent
        device = await client.get("urn:ngsi-ld:Device:probe-1", context=CTX, key_values=True)
        assert device["deviceState"] == "ok"
        await asyncio.sleep(0.5)  # more than two intervals: the periodic check marks it
        device = await client.get("urn:ngsi-ld:Device:probe-1", context=CTX, key_values=True)
        assert device["deviceState"] == "silent"
        assert device["silentSince"][:21] == reported[:21]
        assert agent.device_states() == {"silent": 1}
        await agent.handle("k1", "probe-1", b"t|21")
        device = await client.get("urn:ngsi-ld:Device:probe-1", context=CTX, key_values=True)
        assert device["deviceState"] == "ok" and device["dateLastValueReported"] > reported

    run_local(backend, tmp_path, scenario, check_every=0.05)


def test_provisioning_elsewhere_is_found_and_reload_keeps_state(backend, tmp_path):
    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        other = IotAgent(client)  # another worker provisions; this agent finds it on a miss
        await other.provision([probe_device("probe-2", "k2")])
        receipt = await agent.handle("k2", "probe-2", b'{"t": 5}')
        assert receipt.accepted == 1
        await agent.registry.reload()
        assert agent.registry.cached("probe-2").state == "ok"

    run_local(backend, tmp_path, scenario)


def test_mqtt_to_http_hub_history_and_rejections(hub):
    require_mqtt()
    prefix = f"smartseoul-test-{uuid.uuid4().hex[:8]}"  # isolates this test on a shared broker
    ids = [f"S{i}" for i in range(3)]
    messages = 5

    async def run() -> None:
        client = HttpHubClient(hub.api)
        agent = IotAgent(client, topic_prefix=prefix)
        await agent.start(mqtt_url=f"mqtt://{MQTT_HOST}:1883")
        try:
            await agent.provision([sdot_device(i, "seoul") for i in ids])
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            publisher.connect(MQTT_HOST, 1883)
            publisher.loop_start()
            try:
                for n in range(messages):
                    for i in ids:
                        stamp = f"2026-05-01T09:{2 * n:02d}:00Z"
                        body = {"t": 20 + n, "pm25": 10 + n, "ts": stamp}
                        publisher.publish(f"{prefix}/seoul/{i}/attrs", orjson.dumps(body), qos=1)
                # Bad neighbours: the good reading in the same payload still lands.
                publisher.publish(
                    f"{prefix}/seoul/S0/attrs", b"2026-05-01T10:00:00Z|t|30|h|oops", qos=1
                )
                publisher.publish(f"{prefix}/seoul/ghost/attrs", b"t|1", qos=1)
                publisher.publish(f"{prefix}/wrong/S1/attrs", b"t|1", qos=1)
                publisher.publish(f"{prefix}/seoul/S2/attrs", b"\x00\xff", qos=1).wait_for_publish()
            finally:
                publisher.loop_stop()
                publisher.disconnect()
            expected = messages * len(ids) * 2 + 1
            deadline = time.monotonic() + 15
            while sum(agent.stats.messages.values()) < messages * len(ids) + 4:
                assert time.monotonic() < deadline, agent.stats.as_dict()
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            await agent.flush()
            assert agent.stats.measurements == expected
            assert agent.stats.rejected["unknown_device"] == 1
            assert agent.stats.rejected["wrong_apikey"] == 1
            assert agent.stats.rejected["bad_value"] == 1
            assert agent.stats.rejected["malformed_payload"] == 1
            assert agent.stats.rejected["write_failed"] == 0
            env = await client.get(ENV + "S0", context=CTX)
            assert env["temperature"]["value"] == 30
            assert env["temperature"]["observedAt"] == "2026-05-01T10:00:00.000Z"
            air = await client.get(AIR + "S2", context=CTX)
            assert air["pm25"]["value"] == 10 + messages - 1 and air["pm25"]["unitCode"] == "GQ"
        finally:
            await agent.stop()
            await client.close()

    asyncio.run(run())
    history = hub.http.get(f"/temporal/entities/{AIR}S1", params={"attrs": IOT_CONTEXT["pm25"]})
    assert history.status_code == 200, history.text
    instances = history.json()[IOT_CONTEXT["pm25"]]
    assert sorted(i["value"] for i in instances) == [10 + n for n in range(messages)]
    assert {i["unitCode"] for i in instances} == {"GQ"}
    assert sorted(i["observedAt"] for i in instances)[0] == "2026-05-01T09:00:00.000Z"


def test_stop_writes_what_is_queued(backend, tmp_path):
    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        await agent.provision([probe_device()])
        agent.feed("smartseoul/k1/probe-1/attrs", b"t|7", time.time())
        agent.feed("smartseoul/k1/probe-1", b"t|8", time.time())
        assert agent.stats.rejected["bad_topic"] == 1
        await agent.stop()  # stop is idempotent for the runner's own stop below
        probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
        assert probe["temperature"] == 7

    run_local(backend, tmp_path, scenario, window=10.0)


def test_stop_handles_every_message_already_received(backend, tmp_path):
    """stop() handled one chunk (500) of the listener's queue; the rest reached the agent after
    its last write. paho had acknowledged them (QoS 1), so the broker would not resend them."""
    require_mqtt()
    prefix = f"smartseoul-test-{uuid.uuid4().hex[:8]}"
    count, burst = 2500, 500

    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        await agent.provision([probe_device()])
        await agent.listen(f"mqtt://{MQTT_HOST}:1883")
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect(MQTT_HOST, 1883)
        publisher.loop_start()
        try:
            # The event loop is held here, so what arrives waits in the listener's queue.
            # Bursts stay under Mosquitto's 1,000 queued messages per client, beyond which
            # it drops QoS 1 messages to a subscriber that lags.
            for start in range(0, count, burst):
                for i in range(start, start + burst):
                    body = b'{"p": %d, "ts": %d}' % (i, 1_780_000_000 + i)
                    publisher.publish(f"{prefix}/k1/probe-1/attrs", body, qos=1)
                deadline = time.monotonic() + 20
                while len(agent.listener._inbox) < start + burst:
                    assert time.monotonic() < deadline, len(agent.listener._inbox)
                    time.sleep(0.01)
        finally:
            publisher.loop_stop()
            publisher.disconnect()
        await agent.stop()
        assert agent.stats.messages["mqtt"] == count
        probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
        assert probe["pressure"] == count - 1

    run_local(backend, tmp_path, scenario, topic_prefix=prefix, window=10.0)


def test_stop_waits_for_the_write_under_way(backend, tmp_path):
    """stop() cancelled the writer even in the middle of a write: readings it had taken
    were lost, acknowledged to MQTT devices or not."""

    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        await agent.provision([probe_device()])
        agent.feed("smartseoul/k1/probe-1/attrs", b'{"p": 7}', time.time())  # fills a batch
        for _ in range(3):  # the writer wakes, takes the reading and starts writing it
            await asyncio.sleep(0)
        await agent.stop()
        probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
        assert probe.get("pressure") == 7
        assert agent.stats.rejected["write_failed"] == 0

    run_local(backend, tmp_path, scenario, max_batch=1, window=10.0)


DEEP = b"[" * 1000 + b"]" * 1000  # deeper than repr goes (orjson reads up to 1,024)


def test_out_of_range_times_and_nested_values_are_rejections_not_errors(hub):
    """Times fromtimestamp/astimezone cannot hold and values nested too deep for repr were
    500s (and on MQTT the whole message, good readings included, was lost); a year below
    1000 was written as "100-..." and refused by the hub (503 write_failed)."""
    with httpx.Client(base_url=hub.base, timeout=30) as http:
        spec = {"id": "probe-1", "apikey": "k1", "entityId": "urn:ngsi-ld:Probe:probe-1",
                "entityType": "Probe", "measures": {"t": "temperature",
                "b": {"attr": "on", "type": "Boolean"}}}  # fmt: skip
        assert http.post("/iot/devices", json=spec).status_code == 201
        for stamp in (1e30, -1e20, "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
            sent = http.post("/iot/k1/probe-1/attrs", json={"t": 21.5, "ts": stamp})
            assert sent.status_code == 200, sent.text
            assert sent.json()["accepted"] == 1
            [rejection] = sent.json()["rejected"]
            assert rejection["reason"] == "bad_timestamp" and rejection["measure"] == "ts"
            assert rejection["detail"].startswith("time out of range: ")
        for measure, kind in (("t", "number"), ("b", "boolean")):
            deep = http.post(
                "/iot/k1/probe-1/attrs",
                content=b'{"%s": %s}' % (measure.encode(), DEEP),
                headers={"Content-Type": "application/json"},
            )
            assert deep.status_code == 400, deep.text
            assert deep.json() == {
                "accepted": 0,
                "rejected": [
                    {"reason": "bad_value", "detail": f"expected a {kind}, got a list",
                     "measure": measure}
                ],
            }  # fmt: skip
        stamped = http.post(
            "/iot/k1/probe-1/attrs",
            content=b'{"t": 3, "ts": %s}' % DEEP,
            headers={"Content-Type": "application/json"},
        )
        assert stamped.status_code == 200, stamped.text
        assert stamped.json()["rejected"][0]["detail"] == "not a time: a list"

        old = http.post("/iot/k1/probe-1/attrs", content=b"0100-01-01T00:00:00Z|t|4")
        assert old.status_code == 200, old.text
        assert old.json() == {"accepted": 1, "rejected": []}
        history = hub.http.get(
            "/temporal/entities/urn:ngsi-ld:Probe:probe-1",
            params={"attrs": IOT_CONTEXT["temperature"], "timeAt": "0099-01-01T00:00:00Z",
                    "timerel": "after"},
        )  # fmt: skip
        assert history.status_code == 200, history.text
        instances = history.json()[IOT_CONTEXT["temperature"]]
        assert [i["observedAt"] for i in instances if i["value"] == 4] == [
            "0100-01-01T00:00:00.000Z"
        ]


def test_provisioning_refuses_what_no_reading_could_use(hub):
    """Each of these was provisioned (201) and then lost or failed every reading, or was a
    500 on PostgreSQL (NUL) or on both (targets not an object)."""
    base = {"id": "probe-1", "apikey": "k1", "entityId": "urn:ngsi-ld:Probe:probe-1",
            "entityType": "Probe", "measures": {"t": "temperature"}}  # fmt: skip
    cases = [
        ({"targets": ["urn:x"]}, "targets: an object of role -> {id, type}"),
        ({"targets": "urn:x"}, "targets: an object of role -> {id, type}"),
        ({"measures": {"t": {"attr": "temperature", "unitCode": {"code": "CEL"}}}},
         "measures.t.unitCode: a text code (UN/CEFACT)"),
        ({"measures": {"t": {"attr": "temperature", "unitCode": 5}}},
         "measures.t.unitCode: a text code (UN/CEFACT)"),
        ({"name": "probe\x00one"},
         "The request holds a NUL character (U+0000), which the hub does not store"),
        ({"apikey": "k\x001"},
         "The request holds a NUL character (U+0000), which the hub does not store"),
    ]  # fmt: skip
    # Apikeys that no MQTT topic or URL path can carry, measure names no payload can.
    apikey = "apikey: up to 128 letters, digits, '.', '_', ':' or '-' (no '/', '+', '#')"
    cases += [({"apikey": key}, apikey) for key in ("k/1", "k+1", "k#1", "k 1", "k" * 129)]
    for short in ("", "t|h", "t#2", "ts", "TimeInstant"):
        cases.append(({"measures": {short: "temperature"}}, f"measures.{short}: a measure "
                      "name: not empty, without | or #, not a time key"))  # fmt: skip
    # Readings to these names were acknowledged and dropped (id, @context, createdAt...),
    # corrupted the target (@id, @type) or failed every time (type, scope, location...).
    for attr in ("id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt",
                 "expiresAt", "@id", "@type", "location", "observationSpace",
                 "https://uri.etsi.org/ngsi-ld/location"):  # fmt: skip
        cases.append(
            ({"measures": {"a": attr}}, f"measures.a.attr: {attr!r} cannot hold a measurement")
        )
    with httpx.Client(base_url=hub.base, timeout=30) as http:
        for change, detail in cases:
            refused = http.post("/iot/devices", json={**base, **change})
            assert refused.status_code == 400, (change, refused.text)
            assert refused.json() == {
                "type": "about:blank", "title": "Invalid device", "status": 400,
                "detail": detail,
            }, change  # fmt: skip
        assert http.get("/iot/devices").json() == []
        # The agent serves the default tenant: a device provisioned in another one worked
        # until the next reload of its cache (a minute), then was an unknown device.
        other = http.post("/iot/devices", json=base, headers={"NGSILD-Tenant": "city2"})
        assert other.status_code == 400, other.text
        assert (
            other.json()["detail"] == "NGSILD-Tenant: this agent serves the tenants '', not 'city2'"
        )
        assert http.get("/iot/devices", headers={"NGSILD-Tenant": "city2"}).json() == []
        device = hub.http.get(
            "/entities/urn:ngsi-ld:Device:probe-1", headers={"NGSILD-Tenant": "city2"}
        )
        assert device.status_code == 404, device.text
        created = http.post("/iot/devices", json=base)
        assert created.status_code == 201, created.text
        sent = http.post("/iot/k1/probe-1/attrs", content=b"t|21.5")
        assert sent.json() == {"accepted": 1, "rejected": []}


def test_mqtt_message_with_an_out_of_range_time_keeps_its_readings(backend, tmp_path):
    """The listener logged the OverflowError and dropped the message, its good reading too."""
    require_mqtt()
    prefix = f"smartseoul-test-{uuid.uuid4().hex[:8]}"

    async def scenario(agent: IotAgent, client: LocalHubClient) -> None:
        await agent.provision([probe_device()])
        # Provisioned by another worker: found by a hub lookup, off the feed's own path.
        await IotAgent(client).provision([probe_device("probe-2")])
        await agent.listen(f"mqtt://{MQTT_HOST}:1883")
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        publisher.connect(MQTT_HOST, 1883)
        publisher.loop_start()
        try:
            for device, body in (
                ("probe-1", b'{"t": 7, "ts": 1e30}'),
                ("probe-2", b'{"t": 8, "ts": -1e20}'),
                ("probe-1", b"0001-01-01T00:00:00+01:00|h|40"),
                ("probe-1", b'{"h": %s, "p": 3}' % DEEP),
            ):
                publisher.publish(f"{prefix}/k1/{device}/attrs", body, qos=1).wait_for_publish()
        finally:
            publisher.loop_stop()
            publisher.disconnect()
        deadline = time.monotonic() + 15
        while agent.stats.messages["mqtt"] < 4 or agent._lookups:
            assert time.monotonic() < deadline, agent.stats.as_dict()
            await asyncio.sleep(0.05)
        await agent.flush()
        assert agent.stats.measurements == 3
        assert agent.stats.rejected["bad_timestamp"] == 2
        assert agent.stats.rejected["bad_value"] == 1
        probe = await client.get("urn:ngsi-ld:Probe:probe-1", context=CTX, key_values=True)
        assert probe["temperature"] == 7 and probe["pressure"] == 3
        other = await client.get("urn:ngsi-ld:Probe:probe-2", context=CTX, key_values=True)
        assert other["temperature"] == 8

    run_local(backend, tmp_path, scenario, topic_prefix=prefix)


def test_a_deprovisioned_device_is_gone_and_stays_gone(hub):
    """There was no way to deprovision through the agent; a Device deleted in the hub stayed
    in the agent's cache for a minute, and its next report stamp created it again."""
    base = {"id": "probe-1", "apikey": "k1", "entityId": "urn:ngsi-ld:Probe:probe-1",
            "entityType": "Probe", "measures": {"t": "temperature"}}  # fmt: skip
    with httpx.Client(base_url=hub.base, timeout=30) as http:
        assert http.post("/iot/devices", json=base).status_code == 201
        sent = http.post("/iot/k1/probe-1/attrs", content=b"t|21.5")
        assert sent.json() == {"accepted": 1, "rejected": []}
        other_tenant = http.delete("/iot/devices/probe-1", headers={"NGSILD-Tenant": "x"})
        assert other_tenant.status_code == 404
        assert http.delete("/iot/devices/probe-1").status_code == 204
        assert http.delete("/iot/devices/probe-1").status_code == 404
        assert http.get("/iot/devices").json() == []
        refused = http.post("/iot/k1/probe-1/attrs", content=b"t|22")
        assert refused.status_code == 404 and refused.json()["refused"] == "unknown_device"
    assert hub.http.get("/entities/urn:ngsi-ld:Device:probe-1").status_code == 404
    probe = hub.http.get("/entities/urn:ngsi-ld:Probe:probe-1", params={"options": "keyValues"})
    # Its readings stay with the target (temperature is a Smart Data Models IRI here).
    assert [v for k, v in probe.json().items() if k.endswith("temperature")] == [21.5]
