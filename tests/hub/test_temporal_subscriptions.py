"""Subscriptions on temporal changes (``"temporalChanges": true``), through real HTTP.

On SQLite and PostgreSQL, with a real HTTP receiver and the real Mosquitto on
127.0.0.1:1883. Temporal writes are plain requests on /temporal/entities; the broker queues
the notifications in the write's transaction and the app's worker delivers them.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from test_api_subscriptions import Receiver, mqtt_messages  # noqa: F401 - a fixture
from test_subscriptions import compiled

from conftest import MQTT_HOST, Hub, problem
from smartseoul.hub.store.base import HistoryRow, TemporalEntityRow
from smartseoul.hub.store.sql import SqlTx
from smartseoul.hub.subscription_match import (
    TemporalChange,
    temporal_matches,
    temporal_notification_entity,
)

LD = {"Content-Type": "application/ld+json"}
EX = "https://example.org/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
CTX = {"@context": [{"WaterLevel": EX + "WaterLevel", "level": EX + "level",
                     "flow": EX + "flow"}, CORE]}  # fmt: skip
GAUGE = "urn:ngsi-ld:WaterLevel:hangang"
PATH = f"/temporal/entities/{GAUGE}"
NULL = "urn:ngsi-ld:null"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def subscribe(hub: Hub, uri: str, *, context: dict[str, Any] | None = None, **members: Any) -> str:
    """A subscription to WaterLevel entities; names in the core context unless ``context``."""
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
            "notification": {"endpoint": {"uri": uri}}, **members, **(context or {})}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body, headers=LD if context else None)
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def level(value: float, at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, "observedAt": at, **extra}


def create_history(hub: Hub, *, context: dict[str, Any] | None = None, **attrs: Any) -> None:
    body = {"id": GAUGE, "type": "WaterLevel", **attrs, **(context or {})}
    r = hub.http.post("/temporal/entities", json=body, headers=LD if context else None)
    assert r.status_code == 201, r.text


def append(hub: Hub, *, context: dict[str, Any] | None = None, **attrs: Any) -> None:
    body = {**attrs, **(context or {})}
    r = hub.http.post(f"{PATH}/attrs", json=body, headers=LD if context else None)
    assert r.status_code == 204, r.text


def stored(hub: Hub, attr: str) -> list[tuple[Any, str, str]]:
    """(value, observedAt, instanceId) of the stored instances of ``attr`` (core context)."""
    found = hub.http.get(PATH).json().get(attr, [])
    found = found if isinstance(found, list) else [found]
    return [(i["value"], i["observedAt"], i["instanceId"]) for i in found]


def notes(receiver: Receiver, n: int, *, quiet: float = 0.6) -> list[dict[str, Any]]:
    """The next ``n`` notifications, then none for ``quiet`` seconds."""
    got = [receiver.next()[2] for _ in range(n)]
    assert receiver.quiet(quiet), "more notifications than expected"
    return got


def by_sub(got: list[dict[str, Any]], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Notifications keyed by the name given to their subscription id."""
    out = {names[note["subscriptionId"]]: note for note in got}
    assert len(out) == len(got), "two notifications for one subscription"
    return out


# -- the opt-in -----------------------------------------------------------------------------


def test_append_notifies_opted_in_subscription_with_exactly_the_instances_written(
    hub: Hub, receiver: Receiver
):
    # Names in a user @context: notifications compact with it, as entity notifications do.
    temporal = subscribe(hub, receiver.url, temporalChanges=True, context=CTX)
    plain = subscribe(hub, receiver.url, context=CTX)
    names = {temporal: "temporal", plain: "plain"}

    create_history(hub, context=CTX, level=[level(1.5, "2026-07-01T00:00:00Z"),
                                            level(1.75, "2026-07-01T00:10:00Z")])  # fmt: skip
    (note,) = notes(receiver, 1)
    assert note["subscriptionId"] == temporal and note["temporal"] is True
    assert note["type"] == "Notification" and note["id"].startswith("urn:ngsi-ld:Notification:")
    first = stored(hub, EX + "level")
    assert note["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": [
        {"type": "Property", "value": v, "observedAt": t, "instanceId": i} for v, t, i in first
    ]}]  # fmt: skip
    assert [v for v, _, _ in first] == [1.5, 1.75]

    append(hub, context=CTX, level=[level(2.25, "2026-07-01T00:20:00Z")])
    (note,) = notes(receiver, 1)
    (new,) = [row for row in stored(hub, EX + "level") if row not in first]
    assert new[:2] == (2.25, "2026-07-01T00:20:00Z")
    assert note["subscriptionId"] == temporal
    assert note["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": [
        {"type": "Property", "value": 2.25, "observedAt": "2026-07-01T00:20:00Z",
         "instanceId": new[2]}]}]  # fmt: skip

    # An entity write notifies both, as today, with no temporal marker.
    entity = {"id": GAUGE, "type": "WaterLevel", "level": {"type": "Property", "value": 3.0}}
    r = hub.http.post("/entities", json={**entity, **CTX}, headers=LD)
    assert r.status_code == 201, r.text
    got = by_sub(notes(receiver, 2), names)
    for note in got.values():
        assert "temporal" not in note
        assert note["data"] == [entity]


def test_without_opt_in_no_temporal_notification(hub: Hub, receiver: Receiver):
    sub_id = subscribe(hub, receiver.url, temporalChanges=False)
    got = hub.http.get(f"/subscriptions/{sub_id}").json()
    assert got["temporalChanges"] is False
    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z")])
    append(hub, level=[level(2.0, "2026-07-01T00:10:00Z")])
    assert receiver.quiet(1.0)

    r = hub.http.patch(f"/subscriptions/{sub_id}", json={"temporalChanges": True})
    assert r.status_code == 204, r.text
    assert hub.http.get(f"/subscriptions/{sub_id}").json()["temporalChanges"] is True
    append(hub, level=[level(3.0, "2026-07-01T00:20:00Z")])
    (note,) = notes(receiver, 1)
    assert [i["value"] for i in note["data"][0]["level"]] == [3.0]

    r = hub.http.patch(f"/subscriptions/{sub_id}", json={"temporalChanges": None})
    assert r.status_code == 204, r.text
    assert "temporalChanges" not in hub.http.get(f"/subscriptions/{sub_id}").json()
    append(hub, level=[level(4.0, "2026-07-01T00:30:00Z")])
    assert receiver.quiet(1.0)


@pytest.mark.parametrize(
    "members",
    [
        {"temporalChanges": "true"},
        {"temporalChanges": 1},
        {"temporalChanges": True, "timeInterval": 60},
        {"temporalChanges": True, "notification": {
            "endpoint": {"uri": "http://127.0.0.1:9/n", "accept": "application/geo+json"}}},
    ],
)  # fmt: skip
def test_invalid_temporal_changes_is_bad_request_and_stores_nothing(
    hub: Hub, members: dict[str, Any]
):
    body = {"type": "Subscription", "entities": [{"type": "WaterLevel"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}, **members}  # fmt: skip
    body_text = problem(hub.http.post("/subscriptions", json=body), 400, "BadRequestData")
    assert "temporalChanges" in body_text["detail"]
    r = hub.http.get("/subscriptions", params={"count": "true"})
    assert r.status_code == 200 and r.headers["NGSILD-Results-Count"] == "0" and r.json() == []


def test_invalid_temporal_changes_patch_leaves_the_subscription(hub: Hub):
    sub_id = subscribe(hub, "http://127.0.0.1:9/n", temporalChanges=True)
    before = hub.http.get(f"/subscriptions/{sub_id}").json()
    problem(hub.http.patch(f"/subscriptions/{sub_id}", json={"temporalChanges": "no"}), 400,
            "BadRequestData")  # fmt: skip
    problem(hub.http.patch(f"/subscriptions/{sub_id}", json={"timeInterval": 5}), 400,
            "BadRequestData")  # fmt: skip
    assert hub.http.get(f"/subscriptions/{sub_id}").json() == before


# -- matching -------------------------------------------------------------------------------


def test_watched_attributes_filter(hub: Hub, receiver: Receiver):
    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z")])
    subscribe(hub, receiver.url, temporalChanges=True, watchedAttributes=["flow"])
    append(hub, level=[level(2.0, "2026-07-01T00:10:00Z")])
    assert receiver.quiet(1.0)
    append(hub, flow=[level(40, "2026-07-01T00:10:00Z")])
    (note,) = notes(receiver, 1)
    assert [(i["value"], i["observedAt"]) for i in note["data"][0]["flow"]] == [
        (40, "2026-07-01T00:10:00Z")
    ]
    assert "level" not in note["data"][0]
    # A write touching both carries both: the data is what the write added.
    append(hub, level=[level(3.0, "2026-07-01T00:20:00Z")],
           flow=[level(45, "2026-07-01T00:20:00Z")])  # fmt: skip
    (note,) = notes(receiver, 1)
    assert note["data"][0]["level"][0]["value"] == 3.0
    assert note["data"][0]["flow"][0]["value"] == 45


def test_q_is_evaluated_on_the_written_instances(hub: Hub, receiver: Receiver):
    create_history(hub, level=[level(9.0, "2026-07-01T00:00:00Z")])
    subscribe(hub, receiver.url, temporalChanges=True, q="level>3", scopeQ="/Seoul/#")
    append(hub, level=[level(4.0, "2026-07-01T00:10:00Z")])
    assert receiver.quiet(1.0)  # no scope yet: scopeQ does not match
    body = {"id": GAUGE, "type": "WaterLevel", "scope": "/Seoul/Mapo"}
    r = hub.http.post("/temporal/entities", json=body)
    assert r.status_code == 204, r.text
    assert receiver.quiet(1.0)  # no instance written: q has nothing to hold on
    append(hub, level=[level(1.0, "2026-07-01T00:20:00Z"), level(2.0, "2026-07-01T00:30:00Z")])
    assert receiver.quiet(1.0)  # the stored 9.0 and 4.0 do not count
    append(hub, level=[level(2.5, "2026-07-01T00:40:00Z"), level(5.0, "2026-07-01T00:50:00Z")])
    (note,) = notes(receiver, 1)
    assert [i["value"] for i in note["data"][0]["level"]] == [2.5, 5.0]


def test_geoq_on_the_written_locations_and_pause(hub: Hub, receiver: Receiver):
    def place(lon: float, lat: float, at: str) -> dict[str, Any]:
        point = {"type": "Point", "coordinates": [lon, lat]}
        return {"type": "GeoProperty", "value": point, "observedAt": at}

    create_history(hub, location=[place(126.9780, 37.5665, "2026-07-01T00:00:00Z")])
    geo = {"georel": "near;maxDistance==2000", "geometry": "Point",
           "coordinates": [126.9780, 37.5665]}  # fmt: skip
    sub_id = subscribe(hub, receiver.url, temporalChanges=True, geoQ=geo, isActive=False)
    append(hub, location=[place(126.9800, 37.5670, "2026-07-01T00:10:00Z")])
    assert receiver.quiet(1.0)  # paused
    assert hub.http.patch(f"/subscriptions/{sub_id}", json={"isActive": True}).status_code == 204
    append(hub, location=[place(129.0756, 35.1796, "2026-07-01T00:20:00Z")])  # Busan
    assert receiver.quiet(1.0)
    append(hub, location=[place(126.9790, 37.5660, "2026-07-01T00:30:00Z")])
    (note,) = notes(receiver, 1)
    (inst,) = note["data"][0]["location"]
    assert inst["value"] == {"type": "Point", "coordinates": [126.979, 37.566]}
    assert inst["observedAt"] == "2026-07-01T00:30:00Z"


def test_each_notification_trigger(hub: Hub, receiver: Receiver):
    triggers = ["entityCreated", "attributeCreated", "attributeUpdated", "attributeDeleted",
                "entityDeleted"]  # fmt: skip
    names = {subscribe(hub, receiver.url, temporalChanges=True, notificationTrigger=[t]): t
             for t in triggers}  # fmt: skip

    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z")])
    got = by_sub(notes(receiver, 2), names)
    assert set(got) == {"entityCreated", "attributeCreated"}
    for note in got.values():
        assert [i["value"] for i in note["data"][0]["level"]] == [1.0]

    append(hub, level=[level(2.0, "2026-07-01T00:10:00Z")])
    got = by_sub(notes(receiver, 1), names)
    assert [i["value"] for i in got["attributeUpdated"]["data"][0]["level"]] == [2.0]

    append(hub, flow=[level(30, "2026-07-01T00:10:00Z")])
    got = by_sub(notes(receiver, 1), names)
    assert [i["value"] for i in got["attributeCreated"]["data"][0]["flow"]] == [30]

    (first_value, _, first_id), (second_value, second_t, second_id) = stored(hub, "level")
    assert (first_value, second_value) == (1.0, 2.0)
    patch = {"level": [level(1.25, "2026-07-01T00:01:00Z")]}
    r = hub.http.patch(f"{PATH}/attrs/level/{first_id}", json=patch)
    assert r.status_code == 204, r.text
    got = by_sub(notes(receiver, 1), names)
    assert got["attributeUpdated"]["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": [
        {"type": "Property", "value": 1.25, "observedAt": "2026-07-01T00:01:00Z",
         "instanceId": first_id}]}]  # fmt: skip

    assert hub.http.delete(f"{PATH}/attrs/level/{second_id}").status_code == 204
    got = by_sub(notes(receiver, 1), names)
    assert got["attributeDeleted"]["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": [
        {"type": "Property", "value": NULL, "observedAt": second_t,
         "instanceId": second_id}]}]  # fmt: skip

    assert hub.http.delete(f"{PATH}/attrs/flow").status_code == 204
    got = by_sub(notes(receiver, 1), names)
    assert got["attributeDeleted"]["data"] == [
        {"id": GAUGE, "type": "WaterLevel", "flow": [{"type": "Property", "value": NULL}]}
    ]

    assert hub.http.delete(PATH).status_code == 204
    got = by_sub(notes(receiver, 1), names)
    (item,) = got["entityDeleted"]["data"]
    assert set(item) == {"id", "type", "deletedAt"} and item["id"] == GAUGE
    assert item["type"] == "WaterLevel" and item["deletedAt"].endswith("Z")
    assert got["entityDeleted"]["temporal"] is True


# -- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["keyValues", "concise"])
def test_simplified_formats_give_temporal_values(hub: Hub, receiver: Receiver, fmt: str):
    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z")])
    subscribe(hub, receiver.url, temporalChanges=True,
              notification={"format": fmt, "attributes": ["level"],
                            "endpoint": {"uri": receiver.url}})  # fmt: skip
    append(hub, level=[level(2.0, "2026-07-01T00:10:00Z"), level(2.5, "2026-07-01T00:20:00Z")],
           flow=[level(30, "2026-07-01T00:10:00Z")])  # fmt: skip
    (note,) = notes(receiver, 1)
    assert note["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": {
        "type": "Property",
        "values": [[2.0, "2026-07-01T00:10:00Z"], [2.5, "2026-07-01T00:20:00Z"]]}}]  # fmt: skip


def test_sys_attrs_show_changes_and_datasets(hub: Hub, receiver: Receiver):
    gps = "urn:ngsi-ld:Dataset:gps"
    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z"),
                               level(7.0, "2026-07-01T00:00:00Z", datasetId=gps)])  # fmt: skip
    subscribe(hub, receiver.url, temporalChanges=True,
              notificationTrigger=["attributeUpdated", "attributeDeleted"],
              notification={"sysAttrs": True, "showChanges": True,
                            "endpoint": {"uri": receiver.url}})  # fmt: skip
    (_, _, default_id), (_, _, gps_id) = sorted(stored(hub, "level"), key=lambda row: row[0])
    patch = {"level": {"type": "Property", "value": 1.5, "observedAt": "2026-07-01T00:00:00Z"}}
    r = hub.http.patch(f"{PATH}/attrs/level/{default_id}", json=patch)
    assert r.status_code == 204, r.text
    (note,) = notes(receiver, 1)
    item = note["data"][0]
    assert {"createdAt", "modifiedAt"} <= set(item)
    (inst,) = item["level"]
    assert inst["value"] == 1.5 and inst["previousValue"] == 1.0
    assert inst["instanceId"] == default_id and {"createdAt", "modifiedAt"} <= set(inst)

    r = hub.http.delete(f"{PATH}/attrs/level", params={"datasetId": gps})
    assert r.status_code == 204, r.text
    (note,) = notes(receiver, 1)
    (inst,) = note["data"][0]["level"]
    assert inst["value"] == NULL and inst["datasetId"] == gps and "instanceId" not in inst
    assert inst["deletedAt"].endswith("Z")
    assert stored(hub, "level")[0][2] == default_id and gps_id not in str(stored(hub, "level"))


# -- delivery ---------------------------------------------------------------------------------


def test_mqtt_endpoint_receives_temporal_notification(
    hub: Hub,
    mqtt_messages: tuple[str, queue.Queue[Any]],  # noqa: F811 - the imported fixture
):
    topic, got = mqtt_messages
    uri = f"mqtt://{MQTT_HOST}:1883/{topic}"
    endpoint = {"uri": uri, "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}
    sub_id = subscribe(hub, uri, temporalChanges=True, notification={"endpoint": endpoint})
    create_history(hub, level=[level(4.5, "2026-07-01T00:00:00Z")])
    qos, message = got.get(timeout=10)
    assert qos == 1 and message["metadata"]["Content-Type"] == "application/json"
    body = message["body"]
    assert body["subscriptionId"] == sub_id and body["temporal"] is True
    ((value, observed, instance_id),) = stored(hub, "level")
    assert body["data"] == [{"id": GAUGE, "type": "WaterLevel", "level": [
        {"type": "Property", "value": 4.5, "observedAt": "2026-07-01T00:00:00Z",
         "instanceId": instance_id}]}]  # fmt: skip
    assert (value, observed) == (4.5, "2026-07-01T00:00:00Z")
    with pytest.raises(queue.Empty):
        got.get(timeout=0.6)


def test_a_failing_temporal_write_queues_nothing(
    hub: Hub, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
):
    create_history(hub, level=[level(1.0, "2026-07-01T00:00:00Z")])
    sub_id = subscribe(hub, receiver.url, temporalChanges=True,
                       notificationTrigger=["attributeUpdated", "attributeDeleted"])  # fmt: skip

    async def broken(self: SqlTx, rows: Any) -> None:
        raise RuntimeError("disk on fire")

    # The notification is queued first in the transaction; the write fails after it.
    monkeypatch.setattr(SqlTx, "upsert_temporal_entities", broken)
    body = {"level": [level(2.0, "2026-07-01T00:10:00Z")]}
    r = hub.http.post(f"{PATH}/attrs", json=body)
    assert r.status_code == 500
    monkeypatch.undo()
    # Failing requests that are the client's: bad body, unknown instance, unknown dataset.
    r = hub.http.post(f"{PATH}/attrs", json={"level": [{"type": "Property"}]})
    assert r.status_code == 400
    assert hub.http.delete(f"{PATH}/attrs/level/urn:ngsi-ld:x:1").status_code == 404
    r = hub.http.delete(f"{PATH}/attrs/level", params={"datasetId": "urn:ngsi-ld:Dataset:x"})
    assert r.status_code == 404
    assert receiver.quiet(1.0)
    assert [v for v, _, _ in stored(hub, "level")] == [1.0]  # the failed write left nothing

    append(hub, level=[level(3.0, "2026-07-01T00:20:00Z")])
    (note,) = notes(receiver, 1)
    assert [i["value"] for i in note["data"][0]["level"]] == [3.0]
    deadline = time.time() + 5
    while time.time() < deadline:
        status = hub.http.get(f"/subscriptions/{sub_id}").json()["notification"]
        if status.get("timesSent"):
            break
        time.sleep(0.05)
    assert status["timesSent"] == 1


# -- the core, without the web ------------------------------------------------------------


def _row(attr: str, data: dict[str, Any], instance: str, observed: float) -> HistoryRow:
    return HistoryRow(GAUGE, EX + attr, instance, data.get("datasetId", ""), observed, 0.0, data)


def test_deletion_shapes_by_kind_and_format():
    gauge = TemporalEntityRow(GAUGE, [EX + "WaterLevel"])
    link = {"type": "Relationship", "object": "urn:ngsi-ld:Station:1",
            "observedAt": "2026-07-01T00:00:00Z"}  # fmt: skip
    label = {"type": "LanguageProperty", "languageMap": {"ko": "한강"},
             "observedAt": "2026-07-01T00:00:00Z"}  # fmt: skip
    change = TemporalChange(
        gauge,
        1.0,
        deleted=[_row("station", link, "urn:i:1", 0.5), _row("name", label, "urn:i:2", 0.5)],
        events={EX + "station": "attributeDeleted", EX + "name": "attributeDeleted"},
    )
    normalized = compiled(temporalChanges=True, notificationTrigger=["attributeDeleted"],
                          lang="ko")  # fmt: skip
    assert temporal_matches(normalized, change, now=2.0)
    out = temporal_notification_entity(normalized, change, now_text="2026-07-02T00:00:00Z")
    assert out["station"] == [{"type": "Relationship", "object": NULL, "instanceId": "urn:i:1",
                               "observedAt": "2026-07-01T00:00:00Z"}]  # fmt: skip
    assert out["name"] == [{"type": "Property", "value": NULL, "lang": "@none",
                            "instanceId": "urn:i:2", "observedAt": "2026-07-01T00:00:00Z"}]  # fmt: skip
    simple = compiled(temporalChanges=True, notificationTrigger=["attributeDeleted"],
                      notification={"format": "keyValues", "endpoint": {"uri": "http://x/"}})  # fmt: skip
    out = temporal_notification_entity(simple, change, now_text="2026-07-02T00:00:00Z")
    assert out["station"] == {"type": "Relationship",
                              "objects": [[NULL, "2026-07-01T00:00:00Z"]]}  # fmt: skip
    # Not opted in, or not listening to deletions: no match.
    assert not temporal_matches(compiled(notificationTrigger=["attributeDeleted"]), change, now=2.0)
    assert not temporal_matches(compiled(temporalChanges=True), change, now=2.0)


def test_q_on_deleted_instances_uses_their_values():
    gauge = TemporalEntityRow(GAUGE, [EX + "WaterLevel"])
    sub = compiled(temporalChanges=True, q="level>3", notificationTrigger=["attributeDeleted"])

    def deleting(value: float) -> TemporalChange:
        row = _row("level", {"type": "Property", "value": value}, "urn:i:1", 0.5)
        return TemporalChange(gauge, 1.0, deleted=[row], events={EX + "level": "attributeDeleted"})

    assert temporal_matches(sub, deleting(5.0), now=2.0)
    assert not temporal_matches(sub, deleting(1.0), now=2.0)
