"""Subscriptions, pure: validation, update rules, rendering, matching and notification data."""

from __future__ import annotations

import pytest

from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.jsonld import CORE, CORE_CONTEXT_URL
from smartseoul.hub.subscription_match import (
    attribute_events,
    build_notification,
    compile_subscription,
    matches,
    notification_entity,
)
from smartseoul.hub.subscriptions import (
    CONTEXT_LINK,
    context_url,
    notification_link,
    parse_subscription,
    render_subscription,
    status_of,
    update_subscription,
)

EX = "https://example.org/"
NOW = 1_800_000_000.0  # 2027-01-15
NOW_TEXT = "2027-01-15T08:00:00.000000Z"


def expand(name: str) -> str:
    return name if ":" in name else EX + name


def compact(iri: str) -> str:
    return iri[len(EX) :] if iri.startswith(EX) else CORE.compact(iri)


def parse(**members):
    body = {
        "type": "Subscription",
        "entities": [{"type": "WaterLevel"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9999/notify"}},
        **members,
    }
    return parse_subscription(body, expand, source=None, now_text=NOW_TEXT, now=NOW)


class FakeContext:
    compact = staticmethod(compact)
    expand = staticmethod(expand)


def compiled(**members):
    sub = parse(**members)
    return compile_subscription(sub, "", FakeContext(), FakeContext())  # type: ignore[arg-type]


def entity(level=1.0, *, id="urn:ngsi-ld:WaterLevel:1", type="WaterLevel", **attrs):
    out = {
        "id": id,
        "type": [EX + type],
        "createdAt": NOW_TEXT,
        "modifiedAt": NOW_TEXT,
        "attrs": {EX + "level": [{"type": "Property", "value": level}]},
    }
    for name, value in attrs.items():
        out["attrs"][EX + name] = [{"type": "Property", "value": value}]
    return out


# -- validation ------------------------------------------------------------------------


def test_parse_expands_names_and_fills_defaults():
    sub = parse(watchedAttributes=["level"], notification={
        "attributes": ["level"], "format": "keyValues",
        "endpoint": {"uri": "mqtt://127.0.0.1/city/alerts"}})  # fmt: skip
    assert sub["id"].startswith("urn:ngsi-ld:Subscription:")
    assert sub["entities"] == [{"type": EX + "WaterLevel"}]
    assert sub["watchedAttributes"] == [EX + "level"]
    assert sub["notification"]["attributes"] == [EX + "level"]
    assert sub["notification"]["format"] == "simplified"
    assert sub["notification"]["endpoint"]["accept"] == "application/json"
    assert sub["isActive"] is True


@pytest.mark.parametrize(
    "members, field",
    [
        ({"type": "Subscriptions"}, "type"),
        ({"entities": []}, "entities"),
        ({"entities": [{"id": "urn:x:1"}]}, "type"),
        ({"watchedAttributes": []}, "watchedAttributes"),
        ({"notificationTrigger": ["entityTouched"]}, "notificationTrigger"),
        ({"q": "level>>"}, "q"),
        ({"throttling": 0}, "throttling"),
        ({"timeInterval": -1}, "timeInterval"),
        ({"timeInterval": 10, "watchedAttributes": ["level"]}, "watchedAttributes"),
        ({"timeInterval": 10, "throttling": 5}, "throttling"),
        ({"expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
        ({"isActive": "yes"}, "isActive"),
        ({"geoQ": {"georel": "near;maxDistance==10", "geometry": "Point"}}, "coordinates"),
        ({"notification": {"endpoint": {"uri": "ftp://x/y"}}}, "scheme"),
        ({"notification": {"endpoint": {"uri": "mqtt://127.0.0.1"}}}, "topic"),
        # urlsplit's ValueError used to escape as a 500.
        ({"notification": {"endpoint": {"uri": "http://[::1/x"}}}, "endpoint.uri: Invalid IPv6"),
        ({"notification": {"endpoint": {"uri": "http://127.0.0.1:99999/x"}}}, "endpoint.uri: Port"),
        ({"notification": {"endpoint": {"uri": "http://x/", "accept": "text/csv"}}}, "accept"),
        (
            {
                "notification": {
                    "format": "keyValues",
                    "showChanges": True,
                    "endpoint": {"uri": "http://x/"},
                }
            },
            "showChanges",
        ),  # fmt: skip
        (
            {"notification": {"endpoint": {"uri": "http://x/", "receiverInfo": [{"key": 1}]}}},
            "receiverInfo",
        ),  # fmt: skip
        ({"id": "not a uri"}, "id"),
        ({"colour": "red"}, "colour"),
        # Endpoints a notification could never be sent to were accepted, and every
        # notification then failed: receiverInfo that is no HTTP header, MQTT wildcards in
        # the topic (paho refuses to publish), an MQTT version clause 7.2 does not know.
        *[
            (
                {"notification": {"endpoint": {"uri": "http://x/", "receiverInfo": [kv]}}},
                match,
            )
            for kv, match in [
                ({"key": "X City", "value": "Seoul"}, "'X City' is not a header name"),
                ({"key": "", "value": "Seoul"}, "'' is not a header name"),
                ({"key": "X-City", "value": "Seoul\r\nX-Injected: 1"}, "value of X-City"),
                ({"key": "X-City", "value": "서울"}, "value of X-City"),
                ({"key": "X-City", "value": " Seoul"}, "value of X-City"),
                ({"key": "Content-Length", "value": "5"}, "Content-Length is set by the broker"),
                ({"key": "transfer-encoding", "value": "chunked"}, "set by the broker"),
            ]
        ],
        ({"notification": {"endpoint": {"uri": "mqtt://127.0.0.1/city/+/x"}}}, "topic cannot"),
        ({"notification": {"endpoint": {"uri": "mqtt://127.0.0.1/city/%23"}}}, "topic cannot"),
        (
            {
                "notification": {
                    "endpoint": {
                        "uri": "mqtt://127.0.0.1/a",
                        "notifierInfo": [{"key": "MQTT-Version", "value": "mqtt9"}],
                    }
                }
            },
            "MQTT-Version must be one of mqtt3.1.1, mqtt5.0",
        ),
        # csf and temporalQ were kept unchecked (clauses 4.9, 5.2.21).
        ({"csf": "level>>"}, "q"),
        ({"csf": 5}, "csf must be a non-empty string"),
        ({"temporalQ": "x"}, "temporalQ must be a TemporalQuery"),
        ({"temporalQ": {"timerel": "x", "timeAt": "2026-01-01T00:00:00Z"}}, "temporalQ.timerel"),
        ({"temporalQ": {"timerel": "before", "timeAt": "x"}}, "temporalQ.timeAt"),
        ({"temporalQ": {"timerel": "before"}}, "temporalQ.timeAt: required"),
        ({"temporalQ": {"lastN": 0}}, "temporalQ.lastN"),
        ({"temporalQ": {"timeAt": 5}}, "temporalQ.timeAt must be a string"),
        ({"temporalQ": {"when": "now"}}, "unknown members"),
    ],
)
def test_invalid_subscriptions_name_the_member(members, field):
    with pytest.raises(BadRequestData, match=field):
        parse(**members)


def test_valid_endpoint_extras_and_queries_are_kept():
    endpoint = {"uri": "http://x/", "receiverInfo": [
        {"key": "Authorization", "value": "Bearer a.b-c"}, {"key": "X-Tags", "value": "a\tb c"},
        {"key": "X-Empty", "value": ""}]}  # fmt: skip
    sub = parse(notification={"endpoint": endpoint}, csf="level>3",
                temporalQ={"timerel": "between", "timeAt": "2026-01-01T00:00:00Z",
                           "endTimeAt": "2026-02-01T00:00:00Z", "lastN": 5})  # fmt: skip
    assert sub["notification"]["endpoint"]["receiverInfo"] == endpoint["receiverInfo"]
    assert sub["csf"] == "level>3" and sub["temporalQ"]["lastN"] == 5
    mqtt = {"uri": "mqtt://127.0.0.1/a", "receiverInfo": [{"key": "x y", "value": "서울"}],
            "notifierInfo": [{"key": "MQTT-Version", "value": "mqtt3.1.1"}]}  # fmt: skip
    # MQTT receiverInfo travels in the JSON metadata, so any strings will do (clause 7.2).
    assert parse(notification={"endpoint": mqtt})["notification"]["endpoint"] == {
        **mqtt, "accept": "application/json"}  # fmt: skip


def test_entities_or_watched_attributes_required():
    with pytest.raises(BadRequestData, match="entities or watchedAttributes"):
        parse_subscription(
            {"type": "Subscription", "notification": {"endpoint": {"uri": "http://x/"}}},
            expand, source=None, now_text=NOW_TEXT, now=NOW,
        )  # fmt: skip


def test_update_merges_and_keeps_id():
    sub = parse(q="level>2")
    out = update_subscription(
        sub, {"throttling": 5, "notification": {"format": "concise"}}, expand,
        source=None, now_text="2027-01-15T09:00:00Z", now=NOW,
    )  # fmt: skip
    assert out["throttling"] == 5 and out["q"] == "level>2"
    assert out["notification"]["format"] == "concise"
    assert out["notification"]["endpoint"] == sub["notification"]["endpoint"]
    with pytest.raises(BadRequestData, match="id"):
        update_subscription(sub, {"id": "urn:other:1"}, expand, source=None,
                            now_text=NOW_TEXT, now=NOW)  # fmt: skip


def test_status_and_render_compacts():
    sub = parse(watchedAttributes=["level"], isActive=False)
    assert status_of(sub, NOW) == "paused"
    assert (
        status_of({**sub, "isActive": True, "expiresAt": "2020-01-01T00:00:00Z"}, NOW) == "expired"
    )
    shown = render_subscription(sub, {"timesSent": 3, "status": "ok"}, compact, now=NOW)
    assert shown["entities"] == [{"type": "WaterLevel"}]
    assert shown["watchedAttributes"] == ["level"]
    assert shown["status"] == "paused"
    assert shown["notification"]["timesSent"] == 3 and shown["notification"]["status"] == "ok"
    assert "context" not in shown


def test_a_null_in_a_notification_fragment_removes_the_member():
    """Clause 5.5.8 (after IETF RFC 7396): a null removes a member; those with a default
    take it again. It used to be refused as "attributes must be a non-empty array"."""
    sub = parse(notification={"endpoint": {"uri": "http://127.0.0.1:9999/notify"},
                              "attributes": ["level"], "format": "keyValues", "sysAttrs": True})  # fmt: skip
    out = update_subscription(
        sub, {"notification": {"attributes": None, "format": None, "sysAttrs": None}}, expand,
        source=None, now_text=NOW_TEXT, now=NOW,
    )  # fmt: skip
    assert "attributes" not in out["notification"]
    assert out["notification"]["format"] == "normalized"
    assert out["notification"]["sysAttrs"] is False
    assert out["notification"]["endpoint"] == sub["notification"]["endpoint"]
    with pytest.raises(BadRequestData, match="endpoint"):
        update_subscription(sub, {"notification": {"endpoint": None}}, expand, source=None,
                            now_text=NOW_TEXT, now=NOW)  # fmt: skip
    # The NGSI-LD Null as a URI does the same, at the top level too; it was stored as text
    # (or refused where a member wants an array).
    sub["expiresAt"] = "2030-01-01T00:00:00Z"
    null = "urn:ngsi-ld:null"
    out = update_subscription(
        sub, {"expiresAt": null, "notification": {"attributes": null, "format": null}}, expand,
        source=None, now_text=NOW_TEXT, now=NOW,
    )  # fmt: skip
    assert "expiresAt" not in out and "attributes" not in out["notification"]
    assert out["notification"]["format"] == "normalized"


USER_URL = "http://127.0.0.1:8000/user.jsonld"
CORE_16 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
CORE_19 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"


@pytest.mark.parametrize(
    ("source", "url"),
    [
        (None, CORE_CONTEXT_URL),
        (USER_URL, USER_URL),
        ([USER_URL], USER_URL),
        # The ETSI suite's shape: the user @context, then the core one, which always applies.
        ([USER_URL, CORE_19], USER_URL),
        ([CORE_16], CORE_16),
        ({"level": EX + "level"}, None),
        ([USER_URL, {"level": EX + "level"}], None),
        ([USER_URL, "http://127.0.0.1:8000/other.jsonld"], None),
    ],
)
def test_the_url_that_stands_for_a_subscription_context(source, url):
    assert context_url(source) == url


def test_the_notification_link_prefers_jsonld_context_then_the_hosted_copy():
    inline = [{"level": EX + "level"}, CORE_CONTEXT_URL]
    sub = parse()
    sub["context"] = inline
    assert notification_link(sub) == CORE_CONTEXT_URL  # stored before hosting existed
    hosted = "http://127.0.0.1:1026/ngsi-ld/v1/jsonldContexts/urn:ngsi-ld:jsonldContext:1"
    sub[CONTEXT_LINK] = hosted
    assert notification_link(sub) == hosted
    shown = render_subscription(sub, {}, compact, now=NOW)
    assert shown["jsonldContext"] == hosted and CONTEXT_LINK not in shown
    sub["jsonldContext"] = USER_URL
    assert notification_link(sub) == USER_URL


# -- matching --------------------------------------------------------------------------


def test_attribute_events():
    before = entity(1.0, flow=3)
    after = entity(2.0, alert=True)
    assert attribute_events(before, after) == {
        EX + "alert": "attributeCreated",
        EX + "flow": "attributeDeleted",
        EX + "level": "attributeUpdated",
    }
    # a rewrite with the same value is no change (clause 5.8.6)
    same = entity(1.0, flow=3)
    same["attrs"][EX + "level"][0]["modifiedAt"] = "later"
    assert attribute_events(before, same) == {}


def check(c, before, after, now=NOW):
    return matches(c, before, after, attribute_events(before, after), now=now)


def test_default_triggers_are_attribute_created_and_updated():
    c = compiled()
    assert check(c, None, entity())  # creation creates attributes
    assert check(c, entity(1), entity(2))
    assert not check(c, entity(1), entity(1))
    assert not check(c, entity(1, flow=2), entity(1))  # attributeDeleted is not default
    assert not check(c, entity(1), None)


def test_entity_triggers():
    c = compiled(notificationTrigger=["entityCreated", "entityDeleted"])
    assert check(c, None, entity())
    assert check(c, entity(), None)
    assert not check(c, entity(1), entity(2))
    c = compiled(notificationTrigger=["entityUpdated"])
    assert check(c, entity(1, flow=2), entity(1))
    assert check(c, entity(1), entity(1, flow=2))


def test_selectors_watched_q_scope_geo():
    c = compiled(entities=[{"type": "WaterLevel", "idPattern": "Gauge|WaterLevel:1$"}])
    assert check(c, entity(1), entity(2))
    assert not check(c, entity(1, id="urn:x:2"), entity(2, id="urn:x:2"))
    assert not check(c, entity(1, type="Other"), entity(2, type="Other"))
    c = compiled(watchedAttributes=["flow"])
    assert not check(c, entity(1, flow=1), entity(2, flow=1))
    assert check(c, entity(1, flow=1), entity(1, flow=2))
    c = compiled(q="level>5")
    assert not check(c, entity(1), entity(2))
    assert check(c, entity(1), entity(6))
    c = compiled(scopeQ="/Seoul/#")
    scoped = {**entity(2), "scope": ["/Seoul/Jongno"]}
    assert check(c, entity(1), scoped) and not check(c, entity(1), entity(2))
    c = compiled(geoQ={"georel": "near;maxDistance==1000", "geometry": "Point",
                       "coordinates": [126.978, 37.566]})  # fmt: skip
    here = entity(2)
    here["attrs"][CORE.expand("location")] = [
        {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [126.979, 37.566]}}
    ]
    assert check(c, entity(1), here) and not check(c, entity(1), entity(2))


def test_type_expressions_and_watched_only():
    c = compiled(entities=[{"type": "WaterLevel|Rainfall"}])
    assert check(c, None, entity(type="Rainfall"))
    c = compiled(entities=None, watchedAttributes=["level"])
    assert check(c, None, entity(type="Anything"))


def test_paused_expired_and_periodic_do_not_match_changes():
    assert not check(compiled(isActive=False), None, entity())
    c = compiled(expiresAt="2027-01-15T08:00:10Z")
    assert check(c, None, entity()) and not check(c, None, entity(), now=NOW + 60)
    assert not check(compiled(timeInterval=10), None, entity())


# -- notification data -----------------------------------------------------------------


def test_notification_formats_and_attributes():
    before, after = entity(1.0, flow=3), entity(2.5, flow=3)
    events = attribute_events(before, after)
    data = notification_entity(compiled(), before, after, events, now_text=NOW_TEXT)
    assert data == {
        "id": "urn:ngsi-ld:WaterLevel:1",
        "type": "WaterLevel",
        "level": {"type": "Property", "value": 2.5},
        "flow": {"type": "Property", "value": 3},
    }
    c = compiled(notification={"format": "keyValues", "attributes": ["level"],
                               "endpoint": {"uri": "http://x/"}})  # fmt: skip
    assert notification_entity(c, before, after, events, now_text=NOW_TEXT) == {
        "id": "urn:ngsi-ld:WaterLevel:1", "type": "WaterLevel", "level": 2.5}  # fmt: skip
    c = compiled(notification={"format": "concise", "sysAttrs": True, "showChanges": True,
                               "endpoint": {"uri": "http://x/"}})  # fmt: skip
    out = notification_entity(c, before, after, events, now_text=NOW_TEXT)
    assert out["level"] == {"value": 2.5, "previousValue": 1.0}
    assert out["flow"] == 3 and out["createdAt"] == NOW_TEXT


def test_deleted_attribute_and_entity():
    before, after = entity(1.0, flow=3), entity(1.0)
    events = attribute_events(before, after)
    c = compiled(notificationTrigger=["attributeDeleted"])
    assert notification_entity(c, before, after, events, now_text=NOW_TEXT)["flow"] == (
        "urn:ngsi-ld:null"
    )
    c = compiled(notificationTrigger=["attributeDeleted"], notification={
        "showChanges": True, "endpoint": {"uri": "http://x/"}})  # fmt: skip
    assert notification_entity(c, before, after, events, now_text=NOW_TEXT)["flow"] == {
        "type": "Property", "value": "urn:ngsi-ld:null", "previousValue": 3}  # fmt: skip
    gone = notification_entity(c, before, None, {}, now_text=NOW_TEXT)
    assert gone["deletedAt"] == NOW_TEXT and gone["id"] == before["id"]


def test_build_notification():
    note = build_notification("urn:ngsi-ld:Subscription:1", [{"id": "x"}], now_text=NOW_TEXT)
    assert note["type"] == "Notification" and note["id"].startswith("urn:ngsi-ld:Notification:")
    assert note["subscriptionId"] == "urn:ngsi-ld:Subscription:1"
    assert note["notifiedAt"] == NOW_TEXT and note["data"] == [{"id": "x"}]


def test_a_pattern_that_runs_out_of_time_selects_nothing_and_stops_nothing(caplog):
    """idPattern and q ~= are the subscriber's regular expressions: one that backtracks
    for hours on an entity's id or value (ReDoS) would have stalled the notifier. Each
    search is bounded (hub.query.Pattern); the entity is then not selected, with a warning,
    and every other entity is matched as before."""
    slow = "(a|aa)+$"
    evil = "urn:ngsi-ld:WaterLevel:" + "a" * 40 + "!"
    by_id = compiled(entities=[{"type": "WaterLevel", "idPattern": slow}])
    by_value = compiled(q=f"name~={slow}")
    with caplog.at_level("WARNING", logger="smartseoul.hub.subscription_match"):
        assert not by_id.selects(entity(id=evil))
        assert not by_value.selects(entity(name="a" * 40 + "!"))
    assert sum("does not select" in r.message for r in caplog.records) == 2
    assert by_id.selects(entity(id="urn:ngsi-ld:WaterLevel:aa"))
    assert by_value.selects(entity(name="aaaa"))
