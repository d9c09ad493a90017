"""Notification behaviour as the ETSI suite checks it (clauses 5.8.6, 5.2.12, 5.3.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_api_subscriptions import Receiver

from conftest import Hub

LD = "application/ld+json"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
EX = "https://example.org/"
CTX = {"@context": [{"Building": EX + "Building", "name": EX + "name",
                     "temp": EX + "temp", "owner": EX + "owner"}, CORE]}  # fmt: skip
ID = "urn:ngsi-ld:Building:1"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def subscribe(hub: Hub, receiver: Receiver, *, notification: dict[str, Any] | None = None,
              **members: Any) -> str:  # fmt: skip
    note = {"endpoint": {"uri": receiver.url}, **(notification or {})}
    body = {"type": "Subscription", "entities": [{"type": "Building"}], "notification": note,
            **members, **CTX}  # fmt: skip
    r = hub.http.post("/subscriptions", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def create(hub: Hub, **attrs: Any) -> None:
    body = {"id": ID, "type": "Building", **attrs, **CTX}
    r = hub.http.post("/entities", json=body, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def data(receiver: Receiver) -> list[dict[str, Any]]:
    return receiver.next()[2]["data"]


def strip(item: dict[str, Any]) -> dict[str, Any]:
    """Drop system members, as the suite's comparison ignores them."""
    sys = {"createdAt", "modifiedAt", "deletedAt", "instanceId"}
    out = {}
    for k, v in item.items():
        if k in sys:
            continue
        out[k] = strip(v) if isinstance(v, dict) else v
    return out


def merge(hub: Hub, **attrs: Any) -> None:
    r = hub.http.patch(f"/entities/{ID}", json={**attrs, **CTX}, headers={"Content-Type": LD})
    assert r.status_code == 204, r.text


def test_pick_and_omit_reduce_the_entity_members(hub: Hub, receiver: Receiver):
    # Clause 5.8.6: pick keeps only the members listed, id and type included; omit drops them.
    subscribe(hub, receiver, notification={"pick": ["id", "temp"]})
    subscribe(hub, receiver, notification={"omit": ["type", "name"]})
    create(hub, temp=prop(1), name=prop("x"))
    got = sorted((receiver.next()[2]["data"] for _ in range(2)), key=lambda d: sorted(d[0]))
    assert got == [
        [{"id": ID, "temp": {"type": "Property", "value": 1}}],
        [{"id": ID, "temp": {"type": "Property", "value": 1}}],
    ]


def test_entity_deletion_shows_only_deleted_at_and_sys_attrs(hub: Hub, receiver: Receiver):
    # Clause 5.8.6: without showChanges only deletedAt; with sysAttrs also createdAt/modifiedAt.
    subscribe(hub, receiver, notificationTrigger=["entityDeleted"])
    subscribe(hub, receiver, notificationTrigger=["entityDeleted"],
              notification={"sysAttrs": True})  # fmt: skip
    create(hub, temp=prop(1), name=prop("x"))
    assert receiver.quiet()
    assert hub.http.delete(f"/entities/{ID}").status_code == 204
    got = sorted((data(receiver)[0] for _ in range(2)), key=len)
    assert sorted(got[0]) == ["deletedAt", "id", "type"]
    assert sorted(got[1]) == ["createdAt", "deletedAt", "id", "modifiedAt", "type"]
    assert got[0]["id"] == ID and got[0]["type"] == "Building"


def test_attribute_deletion_shapes(hub: Hub, receiver: Receiver):
    # Clause 5.8.6: urn:ngsi-ld:null, or an object when sysAttrs / showChanges need more.
    plain = subscribe(hub, receiver, notificationTrigger=["attributeDeleted"])
    subscribe(hub, receiver, notificationTrigger=["attributeDeleted"],
              notification={"sysAttrs": True, "showChanges": True})  # fmt: skip
    create(hub, temp=prop(1), owner={"type": "Relationship", "object": "urn:x:1"})
    merge(hub, temp="urn:ngsi-ld:null", owner="urn:ngsi-ld:null")
    got = {}
    for _ in range(2):
        note = receiver.next()[2]
        got[note["subscriptionId"] == plain] = note["data"][0]
    assert got[True]["temp"] == "urn:ngsi-ld:null" and got[True]["owner"] == "urn:ngsi-ld:null"
    assert strip(got[False]["temp"]) == {"type": "Property", "value": "urn:ngsi-ld:null",
                                         "previousValue": 1}  # fmt: skip
    assert "deletedAt" in got[False]["temp"]
    assert strip(got[False]["owner"]) == {"type": "Relationship", "object": "urn:ngsi-ld:null",
                                          "previousObject": "urn:x:1"}  # fmt: skip


def test_q_is_evaluated_on_the_new_state(hub: Hub, receiver: Receiver):
    create(hub, temp=prop(7))
    subscribe(hub, receiver, q="temp>5")
    assert receiver.quiet()  # V1.9.1 sends no initial notification (clause 5.8.1.4)
    merge(hub, temp=prop(3))  # no longer matches: not notified
    assert receiver.quiet()
    merge(hub, temp=prop(8))
    assert data(receiver) == [{"id": ID, "type": "Building", "temp": prop(8)}]


def test_attribute_triggers_and_watched_attributes(hub: Hub, receiver: Receiver):
    create(hub, temp=prop(1), name=prop("a"))
    subscribe(hub, receiver, notificationTrigger=["attributeCreated"])
    subscribe(hub, receiver, watchedAttributes=["temp"], notification={"attributes": ["name"]})
    merge(hub, name=prop("b"))  # neither a new attribute nor a watched one
    assert receiver.quiet()
    merge(hub, temp=prop(2))  # watched: the content is notification.attributes
    assert data(receiver) == [{"id": ID, "type": "Building", "name": prop("b")}]
    assert receiver.quiet()
    merge(hub, owner={"type": "Relationship", "object": "urn:x:1"})
    assert data(receiver)[0]["owner"] == {"type": "Relationship", "object": "urn:x:1"}
    assert receiver.quiet()


def test_batch_operations_notify_once_per_subscription(hub: Hub, receiver: Receiver):
    subscribe(hub, receiver, notificationTrigger=["entityCreated", "entityDeleted"])
    ids = [f"urn:ngsi-ld:Building:{i}" for i in range(3)]
    batch = [{"id": i, "type": "Building", "temp": prop(n), **CTX} for n, i in enumerate(ids)]
    r = hub.http.post("/entityOperations/create", json=batch, headers={"Content-Type": LD})
    assert r.status_code == 201, r.text
    assert [e["id"] for e in data(receiver)] == ids
    r = hub.http.post("/entityOperations/delete", json=ids)
    assert r.status_code == 204, r.text
    gone = data(receiver)
    assert [e["id"] for e in gone] == ids and all("deletedAt" in e for e in gone)
    assert receiver.quiet()


def test_concise_attribute_deletion_has_no_type(hub: Hub, receiver: Receiver):
    # Clause 4.5.1 concise: the kind follows from value / object, so "type" is dropped.
    subscribe(hub, receiver, notificationTrigger=["attributeDeleted"],
              notification={"format": "concise", "showChanges": True})  # fmt: skip
    create(hub, temp=prop(1), owner={"type": "Relationship", "object": "urn:x:1"})
    merge(hub, temp="urn:ngsi-ld:null", owner="urn:ngsi-ld:null")
    got = data(receiver)[0]
    assert got["temp"] == {"value": "urn:ngsi-ld:null", "previousValue": 1}
    assert got["owner"] == {"object": "urn:ngsi-ld:null", "previousObject": "urn:x:1"}
