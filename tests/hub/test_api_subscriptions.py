"""Subscriptions through real HTTP, on SQLite and PostgreSQL, with real receivers.

Notifications go to an HTTP receiver on 127.0.0.1 (a thread) and to a real Mosquitto on
127.0.0.1:1883. Entity writes are plain POST / PATCH / DELETE requests: the broker's write
path queues the notifications and the app's worker delivers them.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import MQTT_HOST, Hub, HubProcesses, RawAnswer, free_port, problem, service_missing

LD = "application/ld+json"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
EX = "https://example.org/"
CTX = {"@context": [{"WaterLevel": EX + "WaterLevel", "level": EX + "level",
                     "flow": EX + "flow"}, CORE]}  # fmt: skip


# -- fixtures ----------------------------------------------------------------------------


class Receiver:
    """An HTTP notification receiver on 127.0.0.1 in a thread; records each POST."""

    def __init__(self, port: int | None = None, *, status: int = 200):
        self.port = port or free_port()
        self.status = status
        self.got: queue.Queue[tuple[float, dict[str, str], Any]] = queue.Queue()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.got.put((time.time(), dict(self.headers), json.loads(body)))
                self.send_response(owner.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def next(self, timeout: float = 10.0) -> tuple[float, dict[str, str], Any]:
        try:
            return self.got.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no notification within {timeout} s") from None

    def quiet(self, wait: float = 0.6) -> bool:
        time.sleep(wait)
        return self.got.empty()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def subscribe(hub: Hub, uri: str, **members: Any) -> str:
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
            "notification": {"endpoint": {"uri": uri}}, **members}  # fmt: skip
    body.update(CTX)
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def create_gauge(hub: Hub, n: int = 1, level: float = 1.0, **extra: Any) -> None:
    body = {"id": f"urn:ngsi-ld:WaterLevel:{n}", "type": "WaterLevel",
            "level": {"type": "Property", "value": level}, **extra, **CTX}  # fmt: skip
    r = hub.http.post("/entities", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text


def patch_level(hub: Hub, level: float, n: int = 1) -> None:
    r = hub.http.patch(
        f"/entities/urn:ngsi-ld:WaterLevel:{n}/attrs",
        json={"level": {"type": "Property", "value": level}, **CTX},
        headers={"Content-Type": LD},
    )
    assert r.status_code == 204, r.text


# -- operations ----------------------------------------------------------------------------


def test_subscription_crud(hub: Hub):
    body = {"id": "urn:ngsi-ld:Subscription:flood", "type": "Subscription",
            "entities": [{"type": "WaterLevel"}], "watchedAttributes": ["level"],
            "q": "level>3", "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
            **CTX}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:flood"
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
    assert r.status_code == 409 and r.json()["type"].endswith("AlreadyExists")

    got = hub.http.get("/subscriptions/urn:ngsi-ld:Subscription:flood").json()
    assert got["entities"] == [{"type": EX + "WaterLevel"}]  # core context: full IRIs
    assert got["status"] == "active" and got["q"] == "level>3"
    assert got["notification"]["endpoint"] == {"uri": "http://127.0.0.1:9/n",
                                               "accept": "application/json"}  # fmt: skip
    r = hub.http.patch(
        "/subscriptions/urn:ngsi-ld:Subscription:flood",
        json={"isActive": False, "throttling": 2, **CTX},
        headers={"Content-Type": LD},
    )
    assert r.status_code == 204, r.text
    r = hub.http.get("/subscriptions", params={"count": "true", "limit": 5})
    assert r.headers["NGSILD-Results-Count"] == "1"
    (listed,) = r.json()
    assert listed["status"] == "paused" and listed["throttling"] == 2

    assert hub.http.delete("/subscriptions/urn:ngsi-ld:Subscription:flood").status_code == 204
    for method in ("GET", "DELETE"):
        r = hub.http.request(method, "/subscriptions/urn:ngsi-ld:Subscription:flood")
        assert r.status_code == 404 and r.json()["type"].endswith("ResourceNotFound")


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Subscription", "notification": {"endpoint": {"uri": "http://x/"}}},
        {"type": "Subscription", "entities": [{"type": "T"}]},
        {
            "type": "Subscription",
            "entities": [{"type": "T"}],
            "expiresAt": "2001-01-01T00:00:00Z",
            "notification": {"endpoint": {"uri": "http://x/"}},
        },  # fmt: skip
    ],
)
def test_invalid_subscription_is_bad_request(hub: Hub, body: dict[str, Any]):
    r = hub.http.post("/subscriptions", json=body)
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData"), r.text


def test_undeliverable_endpoint_is_refused_on_create_and_patch(hub: Hub):
    # A receiverInfo value with CR LF was stored and every notification failed in httpx.
    bad = {"uri": "http://127.0.0.1:1/x", "receiverInfo": [{"key": "X-A", "value": "1\r\nX-B: 2"}]}
    sub = {"type": "Subscription", "entities": [{"type": "T"}], "notification": {"endpoint": bad}}
    body = problem(hub.http.post("/subscriptions", json=sub), 400, "BadRequestData")
    assert "value of X-A" in body["detail"]
    assert hub.http.get("/subscriptions").json() == []
    sub["notification"]["endpoint"] = {"uri": "http://127.0.0.1:1/x"}
    r = hub.http.post("/subscriptions", json=sub)
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[-1]
    for endpoint in (bad, {"uri": f"mqtt://{MQTT_HOST}:1883/city/+"}):
        patch = {"notification": {"endpoint": endpoint}}
        problem(hub.http.patch(f"/subscriptions/{sub_id}", json=patch), 400, "BadRequestData")
    kept = hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]["endpoint"]
    assert kept == {"uri": "http://127.0.0.1:1/x", "accept": "application/json"}


def test_patch_unknown_and_bad_id(hub: Hub):
    r = hub.http.patch("/subscriptions/urn:ngsi-ld:Subscription:none", json={"throttling": 1})
    assert r.status_code == 404
    assert hub.http.get("/subscriptions/not-a-uri").status_code == 400


# -- HTTP notifications --------------------------------------------------------------------


def test_http_notification_normalized(hub: Hub, receiver: Receiver):
    sub_id = subscribe(hub, receiver.url, notification={"endpoint": {
        "uri": receiver.url, "receiverInfo": [{"key": "X-Auth", "value": "s3cret"}]}})  # fmt: skip
    create_gauge(hub, level=1.5)
    _, headers, note = receiver.next()
    assert note["type"] == "Notification" and note["subscriptionId"] == sub_id
    assert note["data"] == [{"id": "urn:ngsi-ld:WaterLevel:1", "type": "WaterLevel",
                             "level": {"type": "Property", "value": 1.5}}]  # fmt: skip
    assert headers["Content-Type"] == "application/json" and headers["X-Auth"] == "s3cret"
    assert "json-ld#context" in headers["Link"]
    patch_level(hub, 4.0)
    assert receiver.next()[2]["data"][0]["level"]["value"] == 4.0
    patch_level(hub, 4.0)  # same value: no change, no notification (clause 5.8.6)
    assert receiver.quiet()
    deadline = time.time() + 5
    while time.time() < deadline:
        status = hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]
        if status.get("timesSent") == 2:
            break
        time.sleep(0.05)
    assert status["timesSent"] == 2 and status["status"] == "ok" and "lastSuccess" in status


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("keyValues", {"id": "urn:ngsi-ld:WaterLevel:1", "type": "WaterLevel", "level": 2.0}),
        (
            "concise",
            {
                "id": "urn:ngsi-ld:WaterLevel:1",
                "type": "WaterLevel",
                "level": {"value": 2.0, "previousValue": 1.0},
            },
        ),  # fmt: skip
    ],
)
def test_http_notification_formats(hub: Hub, receiver: Receiver, fmt: str, expected: dict):
    create_gauge(hub, level=1.0, flow={"type": "Property", "value": 7})
    note = {"format": fmt, "attributes": ["level"], "endpoint": {"uri": receiver.url}}
    if fmt == "concise":
        note["showChanges"] = True
    subscribe(hub, receiver.url, watchedAttributes=["level"], notification=note)
    patch_level(hub, 2.0)
    assert receiver.next()[2]["data"] == [expected]


def test_ld_json_notification_carries_context(hub: Hub, receiver: Receiver):
    subscribe(hub, receiver.url, notification={"endpoint": {"uri": receiver.url, "accept": LD}})
    create_gauge(hub)
    _, headers, note = receiver.next()
    assert headers["Content-Type"] == LD and "Link" not in headers
    assert note["@context"] == CTX["@context"]


def test_q_trigger_and_entity_deleted(hub: Hub, receiver: Receiver):
    subscribe(hub, receiver.url, q="level>3",
              notificationTrigger=["attributeUpdated", "entityDeleted"])  # fmt: skip
    create_gauge(hub, level=1.0)
    patch_level(hub, 2.0)
    assert receiver.quiet()
    patch_level(hub, 5.0)
    assert receiver.next()[2]["data"][0]["level"]["value"] == 5.0
    assert hub.http.delete("/entities/urn:ngsi-ld:WaterLevel:1").status_code == 204
    data = receiver.next()[2]["data"][0]
    assert data["id"] == "urn:ngsi-ld:WaterLevel:1" and "deletedAt" in data


def test_paused_subscription_is_silent(hub: Hub, receiver: Receiver):
    sub_id = subscribe(hub, receiver.url, isActive=False)
    create_gauge(hub)
    assert receiver.quiet()
    r = hub.http.patch(f"/subscriptions/{sub_id}", json={"isActive": True})
    assert r.status_code == 204
    patch_level(hub, 3.0)
    assert receiver.next()[2]["data"][0]["level"]["value"] == 3.0


def test_throttling_delays_without_dropping(hub: Hub, receiver: Receiver):
    subscribe(hub, receiver.url, throttling=1)
    create_gauge(hub, level=0.0)
    for level in (1.0, 2.0):
        patch_level(hub, level)
    got = [receiver.next() for _ in range(3)]
    values = [g[2]["data"][0]["level"]["value"] for g in got]
    assert sorted(values) == [0.0, 1.0, 2.0]
    times = sorted(g[0] for g in got)
    assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 0.9


def test_periodic_notifications(hub: Hub, receiver: Receiver):
    create_gauge(hub, level=1.0)
    subscribe(hub, receiver.url, timeInterval=1)
    got = [receiver.next(timeout=5) for _ in range(3)]
    for _, _, note in got:
        assert note["data"][0]["level"]["value"] == 1.0
    gaps = [b[0] - a[0] for a, b in zip(got, got[1:], strict=False)]
    assert all(0.7 <= gap <= 1.8 for gap in gaps), gaps


def test_receiver_down_then_up_still_gets_it(hub: Hub):
    port = free_port()
    late = Receiver(port)
    sub_id = subscribe(hub, late.url)
    create_gauge(hub, level=9.0)
    deadline = time.time() + 10
    while time.time() < deadline:
        status = hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]
        if status.get("timesFailed"):
            break
        time.sleep(0.05)
    assert status["status"] == "failed" and "lastFailure" in status
    late.start()
    try:
        assert late.next(timeout=15)[2]["data"][0]["level"]["value"] == 9.0
    finally:
        late.stop()


def test_endpoint_cooldown_drops_notifications_after_a_failure(hub: Hub):
    """Clause 5.2.15: after a failed delivery nothing goes to the endpoint until its
    cooldown is over; notifications made meanwhile are not sent, the failed one is retried."""
    failing = Receiver(status=500).start()
    try:
        body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
                "notification": {"endpoint": {"uri": failing.url, "cooldown": 2500}}, **CTX}  # fmt: skip
        r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
        assert r.status_code == 201, r.text
        sub_id = r.headers["Location"].rsplit("/", 1)[1]
        assert hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]["endpoint"][
            "cooldown"
        ] == 2500
        create_gauge(hub, level=1.0)
        first_at, _, note = failing.next()
        assert note["data"][0]["level"]["value"] == 1.0
        deadline = time.time() + 10
        while not hub.http.get(f"/subscriptions/{sub_id}").json()["notification"].get(
            "timesFailed"
        ):
            assert time.time() < deadline, "the failure was not recorded"
            time.sleep(0.02)
        failing.status = 200
        patch_level(hub, 2.0)  # within the cooldown: not sent
        retry_at, _, note = failing.next(timeout=10)
        assert note["data"][0]["level"]["value"] == 1.0  # the failed one, retried
        assert retry_at - first_at >= 2.4
        assert failing.quiet(1.0), "a notification made during the cooldown was sent"
        status = hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]
        assert status["timesFailed"] == 1 and status["timesSent"] == 2
        assert status["status"] == "ok"
    finally:
        failing.stop()


def test_tenant_header_is_sent(hub: Hub, receiver: Receiver):
    tenant = {"NGSILD-Tenant": "gangnam"}
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
            "notification": {"endpoint": {"uri": receiver.url}}, **CTX}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD, **tenant})
    assert r.status_code == 201
    entity = {"id": "urn:ngsi-ld:WaterLevel:9", "type": "WaterLevel",
              "level": {"type": "Property", "value": 1}, **CTX}  # fmt: skip
    r = hub.http.post("/entities", json=entity, headers={"Content-Type": LD, **tenant})
    assert r.status_code == 201
    create_gauge(hub)  # the default tenant: not this subscription's
    _, headers, note = receiver.next()
    assert headers["NGSILD-Tenant"] == "gangnam"
    assert note["data"][0]["id"] == "urn:ngsi-ld:WaterLevel:9"
    assert receiver.quiet()


# -- MQTT ---------------------------------------------------------------------------------


@pytest.fixture
def mqtt_messages() -> Iterator[tuple[str, queue.Queue[Any]]]:
    try:
        socket.create_connection((MQTT_HOST, 1883), timeout=2).close()
    except OSError:
        service_missing(f"Mosquitto not reachable at {MQTT_HOST}:1883")
    import paho.mqtt.client as mqtt

    topic = f"smartseoul/test/{time.time_ns()}"
    got: queue.Queue[Any] = queue.Queue()
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.put((m.qos, json.loads(m.payload)))
    client.on_subscribe = lambda *a: ready.set()
    client.connect(MQTT_HOST, 1883)
    client.subscribe(topic, qos=2)
    client.loop_start()
    assert ready.wait(5)
    yield topic, got
    client.loop_stop()
    client.disconnect()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mqtt_notification(hub: Hub, mqtt_messages: tuple[str, queue.Queue[Any]], qos: int):
    topic, got = mqtt_messages
    uri = f"mqtt://{MQTT_HOST}:1883/{topic}"
    endpoint = {"uri": uri, "notifierInfo": [{"key": "MQTT-QoS", "value": str(qos)}],
                "receiverInfo": [{"key": "X-City", "value": "Seoul"}]}  # fmt: skip
    sub_id = subscribe(hub, uri, notification={"endpoint": endpoint, "format": "keyValues"})
    create_gauge(hub, level=3.25)
    received_qos, message = got.get(timeout=10)
    assert received_qos == qos
    assert message["metadata"]["Content-Type"] == "application/json"
    assert message["metadata"]["X-City"] == "Seoul" and "Link" in message["metadata"]
    body = message["body"]
    assert body["type"] == "Notification" and body["subscriptionId"] == sub_id
    assert body["data"] == [{"id": "urn:ngsi-ld:WaterLevel:1", "type": "WaterLevel",
                             "level": 3.25}]  # fmt: skip


def test_a_receiver_reply_is_not_read_whole(hub: Hub):
    # The notifier read every reply whole: an endpoint answering with an endless body (here
    # 200 MB) filled the hub's memory until the delivery timed out.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 200000000\r\n\r\n"
    receiver = RawAnswer(head, b"x", 200_000_000, path="/notify")
    sub_id = subscribe(hub, receiver.url)
    create_gauge(hub)
    sent = receiver.join()
    assert sent and sent[0] < 20_000_000, sent
    deadline = time.time() + 10
    while hub.http.get(f"/subscriptions/{sub_id}").json()["notification"].get("timesSent") != 1:
        assert time.time() < deadline, "the delivery was not counted as sent"
        time.sleep(0.05)


def test_the_endpoint_timeout_bounds_the_whole_delivery(hub: Hub):
    # httpx's timeout bounds each read: a reply dripping a byte every 0.4 s went on for ever
    # (the status line and headers: a failure far too late; a body: a success far too late).
    status = b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"
    dripping_status = RawAnswer(b"", status, len(status), chunk=1, pause=0.4).url
    dripping_body = RawAnswer(status, b"x", 2000, chunk=1, pause=0.4).url
    subs = {
        "failed": subscribe(hub, dripping_status, notification={
            "endpoint": {"uri": dripping_status, "timeout": 1000}}),
        "sent": subscribe(hub, dripping_body, notification={
            "endpoint": {"uri": dripping_body, "timeout": 1000}}),
    }  # fmt: skip
    start = time.monotonic()
    create_gauge(hub)
    for outcome, sub_id in subs.items():
        member = "timesFailed" if outcome == "failed" else "timesSent"
        while hub.http.get(f"/subscriptions/{sub_id}").json()["notification"].get(member) != 1:
            assert time.monotonic() - start < 8, f"no {member} yet"
            time.sleep(0.05)
    assert time.monotonic() - start < 4


def test_http_client_errors_do_not_block_writes(hub: Hub):
    subscribe(hub, "http://127.0.0.1:1/unreachable")
    start = time.perf_counter()
    create_gauge(hub)
    assert time.perf_counter() - start < 2.0  # a write never waits for a receiver
    assert httpx.get(hub.base + "/health").status_code == 200


# -- separate processes: kill -9 and several workers ---------------------------------------


class Processes(HubProcesses):
    """Hub server processes sharing one store; ``start`` gives the API's base URL."""

    def start(self) -> str:
        return super().start() + "/ngsi-ld/v1"


@pytest.fixture
def processes(backend: str, tmp_path: Path) -> Iterator[Processes]:
    group = Processes(backend, tmp_path)
    yield group
    group.close(graceful=False)


def _post(api: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(api + path, json={**body, **CTX}, headers={"Content-Type": LD}, timeout=10)


@pytest.mark.slow
def test_kill_9_between_write_and_delivery_loses_nothing(processes: Processes):
    port = free_port()
    # A receiver that takes the connection and never answers: the first worker is killed
    # while it is delivering, the worst moment.
    hanging = socket.create_server(("127.0.0.1", port))
    api = processes.start()
    url = f"http://127.0.0.1:{port}/notify"
    sub = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
           "notification": {"endpoint": {"uri": url}}}  # fmt: skip
    assert _post(api, "/subscriptions", sub).status_code == 201
    entity = {"id": "urn:ngsi-ld:WaterLevel:k9", "type": "WaterLevel",
              "level": {"type": "Property", "value": 6.5}}  # fmt: skip
    assert _post(api, "/entities", entity).status_code == 201
    time.sleep(0.3)
    first = processes.procs[0]
    first.send_signal(signal.SIGKILL)
    first.wait()
    hanging.close()
    late = Receiver(port).start()
    try:
        processes.start()
        _, _, note = late.next(timeout=30)
        assert note["data"][0]["id"] == "urn:ngsi-ld:WaterLevel:k9"
        assert note["data"][0]["level"]["value"] == 6.5
    finally:
        late.stop()


@pytest.mark.slow
def test_two_workers_deliver_each_notification_once(processes: Processes, receiver: Receiver):
    first, second = processes.start(), processes.start()
    sub = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
           "notification": {"endpoint": {"uri": receiver.url}}}  # fmt: skip
    assert _post(first, "/subscriptions", sub).status_code == 201
    n = 40
    for i in range(n):  # writes through both workers; the subscription was made on one
        api = first if i % 2 else second
        entity = {"id": f"urn:ngsi-ld:WaterLevel:w{i}", "type": "WaterLevel",
                  "level": {"type": "Property", "value": i}}  # fmt: skip
        assert _post(api, "/entities", entity).status_code == 201
    got = [receiver.next(timeout=20)[2] for _ in range(n)]
    assert receiver.quiet(1.5)  # and nothing twice
    ids = sorted(note["data"][0]["id"] for note in got)
    assert ids == sorted(f"urn:ngsi-ld:WaterLevel:w{i}" for i in range(n))
    assert len({note["id"] for note in got}) == n


@pytest.mark.slow
def test_two_workers_share_an_endpoint_cooldown(processes: Processes):
    """Clause 5.2.15 across workers: a failure one worker saw holds back the notifications
    that the other claims during the cooldown."""
    failing = Receiver(status=500).start()
    try:
        first, second = processes.start(), processes.start()
        sub = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
               "notification": {"endpoint": {"uri": failing.url, "cooldown": 4000}}}  # fmt: skip
        created = _post(first, "/subscriptions", sub)
        assert created.status_code == 201, created.text
        sub_url = first + "/subscriptions/" + created.headers["Location"].rsplit("/", 1)[1]

        def entity(i: int) -> dict[str, Any]:
            return {"id": f"urn:ngsi-ld:WaterLevel:c{i}", "type": "WaterLevel",
                    "level": {"type": "Property", "value": i}}  # fmt: skip

        assert _post(first, "/entities", entity(0)).status_code == 201
        first_at, _, note = failing.next(timeout=20)
        assert note["data"][0]["id"] == "urn:ngsi-ld:WaterLevel:c0"
        deadline = time.time() + 10
        while not httpx.get(sub_url, timeout=5).json()["notification"].get("timesFailed"):
            assert time.time() < deadline, "the failure was not recorded"
            time.sleep(0.02)
        failing.status = 200
        for i in range(1, 7):  # within the cooldown, through both workers: none is sent
            assert _post(second if i % 2 else first, "/entities", entity(i)).status_code == 201
        retry_at, _, note = failing.next(timeout=20)
        assert note["data"][0]["id"] == "urn:ngsi-ld:WaterLevel:c0"  # the failed one, retried
        assert retry_at - first_at >= 3.9
        assert failing.quiet(1.0), "a notification made during the cooldown was sent"
    finally:
        failing.stop()


# -- Linked Entity retrieval in notifications (notification.join, clause 5.2.14) -----------


def _station_with_gauge(hub: Hub) -> None:
    station = {"id": "urn:ngsi-ld:Station:s1", "type": "Station",
               "name": {"type": "Property", "value": "Hangang Bridge"}}  # fmt: skip
    r = hub.http.post("/entities", json=station)
    assert r.status_code == 201, r.text
    create_gauge(hub, level=1.0, station={"type": "Relationship", "object": station["id"]})


def test_notification_join_inline_and_flat(hub: Hub, receiver: Receiver):
    _station_with_gauge(hub)
    subscribe(hub, receiver.url, notification={
        "endpoint": {"uri": receiver.url}, "format": "keyValues", "join": "inline"})  # fmt: skip
    patch_level(hub, 2.0)
    _, _, note = receiver.next()
    (gauge,) = note["data"]
    assert gauge["level"] == 2.0
    # keyValues: the Linked Entity stands in place of the URI (annex C.2.2)
    assert gauge["station"] == {
        "id": "urn:ngsi-ld:Station:s1", "type": "Station", "name": "Hangang Bridge"}  # fmt: skip
    flat = Receiver().start()
    try:
        subscribe(hub, flat.url, notification={"endpoint": {"uri": flat.url}, "join": "flat"})
        patch_level(hub, 3.0)
        _, _, note = flat.next()
        assert [e["id"] for e in note["data"]] == [
            "urn:ngsi-ld:WaterLevel:1", "urn:ngsi-ld:Station:s1"]  # fmt: skip
        assert note["data"][0]["level"]["value"] == 3.0
    finally:
        flat.stop()


def test_notification_join_is_checked(hub: Hub):
    for note in ({"join": "deep"}, {"join": "flat", "joinLevel": 0}):
        body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}, **note}}  # fmt: skip
        r = hub.http.post("/subscriptions", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("BadRequestData")


def test_periodic_notification_join(hub: Hub, receiver: Receiver):
    _station_with_gauge(hub)
    subscribe(hub, receiver.url, timeInterval=1, notification={
        "endpoint": {"uri": receiver.url}, "format": "concise", "join": "inline"})  # fmt: skip
    _, _, note = receiver.next(timeout=5)
    (gauge,) = note["data"]
    assert gauge["station"]["entity"] == {
        "id": "urn:ngsi-ld:Station:s1", "type": "Station", "name": "Hangang Bridge"}  # fmt: skip


def test_linked_q_in_a_subscription_is_refused_clearly(hub: Hub):
    """A subscription's q is matched against each changed entity alone: a term on Linked
    Entities cannot be, and is refused at creation rather than never matching."""
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}], "q": "station{name}",
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("OperationNotSupported")
    assert "join" in r.json()["detail"]


def test_concurrent_patches_of_one_subscription_keep_every_member(hub: Hub):
    # Each PATCH read the subscription, changed its member and wrote the whole document
    # back: on PostgreSQL, of six at once only some members survived.
    patches = [{"description": "d"}, {"throttling": 7}, {"subscriptionName": "n"},
               {"q": "level>1"}, {"lang": "ko"}, {"expiresAt": "2099-01-01T00:00:00Z"}]  # fmt: skip
    for round_ in range(4):
        sub_id = subscribe(hub, f"http://127.0.0.1:1/{round_}")
        statuses: list[int] = []

        def patch(members: dict[str, Any], sub_id: str, statuses: list[int]) -> None:
            with httpx.Client(base_url=hub.api, timeout=60) as http:
                statuses.append(http.patch(f"/subscriptions/{sub_id}", json=members).status_code)

        threads = [threading.Thread(target=patch, args=(p, sub_id, statuses)) for p in patches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [204] * 6
        got = hub.http.get(f"/subscriptions/{sub_id}").json()
        assert {k: got.get(k) for p in patches for k in p} == {
            k: v for p in patches for k, v in p.items()
        }, got


# -- ETSI common behaviours on subscriptions ---------------------------------------------------


def test_query_pages_carry_prev_and_next_links(hub: Hub):
    """Clause 6.3.10 (5.5.9.1): rel="next" on all pages but the last, rel="prev" on all but
    the first, each with the parameters to fetch it and the media type answered."""
    for n in range(5):
        subscribe(hub, f"http://127.0.0.1:9/{n}")

    def page_links(offset: int, **headers: str) -> list[str]:
        r = hub.http.get("/subscriptions", params={"limit": 2, "offset": offset}, headers=headers)
        assert r.status_code == 200 and len(r.json()) == min(2, 5 - offset)
        return [v for v in r.headers.get_list("Link") if "json-ld#context" not in v]

    path = "</ngsi-ld/v1/subscriptions?limit=2&offset="
    assert page_links(0) == [path + '2>; rel="next"; type="application/json"']
    assert page_links(2, Accept=LD) == [
        path + '0>; rel="prev"; type="application/ld+json"',
        path + '4>; rel="next"; type="application/ld+json"',
    ]
    assert page_links(4) == [path + '2>; rel="prev"; type="application/json"']
    r = hub.http.get("/subscriptions", params={"limit": 2, "offset": 2, "count": "true"})
    assert path.replace("?", "?count=true&") + '0>; rel="prev"; type="application/json"' in (
        r.headers.get_list("Link")
    )


def test_limit_zero_needs_count(hub: Hub):
    """Clause 6.3.13: limit=0 only with count=true, else 400."""
    subscribe(hub, "http://127.0.0.1:9/n")
    problem(hub.http.get("/subscriptions", params={"limit": 0}), 400, "BadRequestData")
    r = hub.http.get("/subscriptions", params={"limit": 0, "count": "true"})
    assert r.status_code == 200 and r.json() == [] and r.headers["NGSILD-Results-Count"] == "1"


def test_a_tenant_that_does_not_exist_is_nonexistent_tenant(hub: Hub):
    """Clause 5.5.10: operations other than creations on a tenant that does not exist raise
    NonexistentTenant; in a tenant that exists a missing subscription is ResourceNotFound."""
    sub = "/subscriptions/urn:ngsi-ld:Subscription:nowhere"
    never = {"NGSILD-Tenant": "never-written"}
    for method in ("GET", "DELETE"):
        problem(hub.http.request(method, sub, headers=never), 404, "NonexistentTenant")
    problem(hub.http.patch(sub, json={"isActive": False}, headers=never), 404, "NonexistentTenant")
    body = {"type": "Subscription", "entities": [{"type": "T"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}  # fmt: skip
    assert hub.http.post("/subscriptions", json=body, headers=never).status_code == 201
    for method in ("GET", "DELETE"):
        problem(hub.http.request(method, sub, headers=never), 404, "ResourceNotFound")


def test_json_notifications_link_a_hosted_copy_of_an_inline_context(hub: Hub, receiver: Receiver):
    """Clause 5.13.1 (ImplicitlyCreated) and 6.3.8: an application/json notification names
    its @context in a Link header. For an @context no one URL stands for (here an inline
    object and the core URL) that was the core @context, while the data used the user terms."""
    sub_id = subscribe(hub, receiver.url)
    create_gauge(hub, level=2.0)
    _, headers, note = receiver.next()
    assert note["data"][0]["level"] == {"type": "Property", "value": 2.0}
    url = re.fullmatch(r'<([^>]+)>; rel="http://www.w3.org/ns/json-ld#context".*', headers["Link"])
    assert url is not None and "/ngsi-ld/v1/jsonldContexts/urn:ngsi-ld:jsonldContext:" in url[1]
    hosted = url[1].split("/ngsi-ld/v1", 1)[1]
    assert hub.http.get(hosted).json() == CTX
    details = hub.http.get(hosted, params={"details": "true"}).json()
    assert details["kind"] == "ImplicitlyCreated"
    assert hub.http.get(f"/subscriptions/{sub_id}").json()["jsonldContext"] == url[1]


def test_json_notifications_link_the_user_context_given_beside_the_core_one(
    hub: Hub, receiver: Receiver
):
    """The ETSI suite's shape, ``[user URL, core URL]``: the Link names the user URL."""
    created = hub.http.post("/jsonldContexts", json={"@context": CTX["@context"][0]})
    user = hub.base + created.headers["Location"]
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
            "notification": {"endpoint": {"uri": receiver.url}}, "@context": [user, CORE]}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text
    create_gauge(hub)
    _, headers, note = receiver.next()
    assert headers["Link"].startswith(f"<{user}>; rel=")
    assert note["data"][0]["type"] == "WaterLevel"
    listed = hub.http.get("/subscriptions").json()
    assert listed[0]["jsonldContext"] == user
    assert hub.http.get("/jsonldContexts", params={"kind": "ImplicitlyCreated"}).json() == []


@pytest.mark.parametrize("prefer", [None, "body=json"])
def test_geojson_notifications_put_the_context_where_prefer_asks(
    hub: Hub, receiver: Receiver, prefer: str | None
):
    """Clause 6.3.8: for application/geo+json, a Link header when receiverInfo has
    "Prefer: body=json", else an @context in the FeatureCollection."""
    endpoint: dict[str, Any] = {"uri": receiver.url, "accept": "application/geo+json"}
    if prefer:
        endpoint["receiverInfo"] = [{"key": "Prefer", "value": prefer}]
    subscribe(hub, receiver.url, notification={"endpoint": endpoint})
    create_gauge(hub)
    _, headers, note = receiver.next()
    assert headers["Content-Type"] == "application/geo+json"
    assert note["data"]["type"] == "FeatureCollection"
    if prefer:
        assert "json-ld#context" in headers["Link"] and "@context" not in note["data"]
    else:
        assert "Link" not in headers and note["data"]["@context"] == CTX["@context"]
