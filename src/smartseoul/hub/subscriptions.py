"""NGSI-LD subscriptions: validation, stored form, update merge and rendering (pure).

Clauses 5.2.12 (Subscription), 5.2.14 (NotificationParams), 5.2.15 (Endpoint), 5.2.33
(EntitySelector), 5.8.1 to 5.8.5 (operations). Matching and notification payloads are in
``hub.subscription_match``.

Stored form
-----------
Names are expanded once, at write time, so matching never touches a @context::

    {
      "id": "urn:ngsi-ld:Subscription:...", "type": "Subscription",
      "entities": [{"type": "<type IRI or expression of IRIs>", "id": ..., "idPattern": ...}],
      "watchedAttributes": ["<attribute IRI>", ...],
      "notificationTrigger": ["attributeCreated", "attributeUpdated"],
      "q": "<q as written>", "scopeQ": "...",
      "geoQ": {"georel", "geometry", "coordinates", "geoproperty": "<IRI>"},
      "timeInterval": 60, "throttling": 5, "expiresAt": "...", "isActive": true,
      "lang": "ko", "datasetId": [...], "subscriptionName": ..., "description": ...,
      "temporalChanges": true,  # smartseoul extension, see hub.subscription_match
      "notification": {"attributes": [IRIs], "format": "normalized", "sysAttrs": false,
                       "showChanges": false, "endpoint": {"uri", "accept", ...}},
      "jsonldContext": "<URL>",  # only when given; else notifications use "context"
      "context": <the request's @context value: names and q are read against it>,
      "createdAt": "...", "modifiedAt": "..."
    }

Delivery counters (timesSent, lastSuccess, ...) live in their own columns, so the delivery
worker never rewrites the subscription document.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from smartseoul.hub.entities import NGSI_NULL, check_name, is_uri, parse_time
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.expressions import And, Or
from smartseoul.hub.geo import parse_geoquery
from smartseoul.hub.jsonld import CORE_CONTEXT_URL, is_core_context_url
from smartseoul.hub.limits import check_name_length
from smartseoul.hub.linked import parse_join
from smartseoul.hub.query import compile_pattern, parse_q
from smartseoul.hub.selection import parse_scope_q, parse_type_expr
from smartseoul.hub.temporal import parse_temporal_query

Expand = Callable[[str], str]
Compact = Callable[[str], str]

TRIGGERS = frozenset(
    {
        "entityCreated",
        "entityUpdated",
        "entityDeleted",
        "attributeCreated",
        "attributeUpdated",
        "attributeDeleted",
    }
)
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")  # clause 5.2.12
FORMATS = {
    "normalized": "normalized",
    "concise": "concise",
    "simplified": "simplified",
    "keyValues": "simplified",
}
ACCEPTS = frozenset({"application/json", "application/ld+json", "application/geo+json"})
SCHEMES = frozenset({"http", "https", "mqtt", "mqtts"})
MQTT_VERSIONS = ("mqtt3.1.1", "mqtt5.0")  # clause 7.2 table 7.2-1
# receiverInfo of an http(s) endpoint becomes request headers: a name must be a token and a
# value visible ASCII with inner spaces or tabs (RFC 9110 clauses 5.1 and 5.5), or the
# notification could never be sent. Headers that frame the request or the connection are
# the broker's (RFC 9110 clause 7.6.1 and 8.6, RFC 9112 clause 6.1).
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?")
BROKER_HEADERS = frozenset(
    {"connection", "content-length", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
TEMPORAL_Q_MEMBERS = frozenset(
    {"timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods", "aggrPeriodDuration"}
)
# Members a client may give (clause 5.2.12); read-only ones are ignored, others rejected.
INPUT_MEMBERS = frozenset(
    {
        "id", "type", "subscriptionName", "description", "entities", "watchedAttributes",
        "notificationTrigger", "q", "geoQ", "scopeQ", "timeInterval", "throttling",
        "expiresAt", "isActive", "lang", "datasetId", "notification", "jsonldContext",
        "@context", "csf", "temporalQ", "localOnly", "expandValues", "jsonKeys",
        "splitEntities", "ngsildConformance", "temporalChanges",
    }
)  # fmt: skip
READ_ONLY = frozenset({"status", "createdAt", "modifiedAt"})
# Stored, never shown: the URL at which the broker hosts a subscription's @context when no
# URL of the request stands for it (an ImplicitlyCreated @context, clause 5.13.1).
CONTEXT_LINK = "contextLink"
NOTIFICATION_MEMBERS = frozenset(
    {"attributes", "format", "sysAttrs", "showChanges", "endpoint", "pick", "omit", "join",
     "joinLevel"}
)  # fmt: skip
NOTIFICATION_DEFAULTS = {"format": "normalized", "sysAttrs": False, "showChanges": False}
NOTIFICATION_STATUS = frozenset(
    {"status", "timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"}
)


def new_subscription_id() -> str:
    return f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"


def context_url(source: Any) -> str | None:
    """The URL that stands for a request's @context (5.8.1.4: the jsonldContext default):
    the URL itself, or the one URL an array holds beside core @context URLs (the core
    @context applies anyway); None when no URL does (an inline object, several URLs).

    Examples
    --------
    >>> context_url(["https://ex.org/c.jsonld", CORE_CONTEXT_URL])
    'https://ex.org/c.jsonld'
    >>> context_url(None) == CORE_CONTEXT_URL, context_url([{"a": "https://ex.org/a"}])
    (True, None)
    """
    if isinstance(source, str):
        return source
    items = source if isinstance(source, list) else [source]
    user = [item for item in items if item is not None and not is_core_context_url(item)]
    if not user:
        return next((item for item in items if isinstance(item, str)), CORE_CONTEXT_URL)
    if len(user) == 1 and isinstance(user[0], str):
        return user[0]
    return None


def notification_link(sub: dict[str, Any]) -> str:
    """The @context URL of a subscription's notifications (clause 5.8.6): its jsonldContext,
    else the URL standing for its @context, hosted for it if need be (``CONTEXT_LINK``)."""
    return (
        sub.get("jsonldContext")
        or sub.get(CONTEXT_LINK)
        or context_url(sub.get("context"))
        or CORE_CONTEXT_URL  # a subscription stored before CONTEXT_LINK existed
    )


def parse_subscription(
    body: Any, expand: Expand, *, source: Any, now_text: str, now: float
) -> dict[str, Any]:
    """Validate a Subscription (clauses 5.2.12, 5.8.1.4) and return its stored form.

    Parameters
    ----------
    body
        The request body, a JSON object.
    expand
        Expands names with the request's @context.
    source
        The request's @context value (URL, list or object), kept to parse ``q`` again.
    now_text, now
        The current time as text and as epoch seconds.

    Raises
    ------
    BadRequestData
        Naming the offending member.

    Examples
    --------
    >>> sub = parse_subscription(
    ...     {"type": "Subscription", "entities": [{"type": "Gauge"}],
    ...      "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}},
    ...     lambda t: "ex:" + t, source=None, now_text="2026-01-01T00:00:00Z", now=0.0)
    >>> sub["entities"], sub["notification"]["format"], sub["isActive"]
    ([{'type': 'ex:Gauge'}], 'normalized', True)
    """
    if not isinstance(body, dict):
        raise BadRequestData("The subscription must be a JSON object")
    if body.get("type") != "Subscription":
        raise BadRequestData('type must be "Subscription" (clause 5.2.12)')
    if "notification" not in body:
        raise BadRequestData("notification is mandatory (clause 5.2.12)")
    sub_id = body.get("id")
    if sub_id is None:
        sub_id = new_subscription_id()
    elif not is_uri(sub_id):
        raise BadRequestData(f"id must be a URI, got {sub_id!r}")
    check_name_length(sub_id, "The subscription id")
    stored: dict[str, Any] = {"id": sub_id, "type": "Subscription", "isActive": True}
    stored.update(_members(body, expand, now=now))
    stored["notification"] = _notification(body["notification"], expand, old=None)
    stored["context"] = source
    stored["createdAt"] = stored["modifiedAt"] = now_text
    _check_whole(stored, expand)
    return stored


def update_subscription(
    stored: dict[str, Any], fragment: Any, expand: Expand, *, source: Any, now_text: str, now: float
) -> dict[str, Any]:
    """Apply a Subscription fragment (clause 5.8.2.4, partial update patch 5.5.8).

    Top-level members replace the stored ones; ``notification`` members replace those of
    the stored notification. ``id`` cannot change.
    """
    if not isinstance(fragment, dict):
        raise BadRequestData("The subscription fragment must be a JSON object")
    if "id" in fragment and fragment["id"] != stored["id"]:
        raise BadRequestData("The id of a subscription cannot be modified (clause 5.2.12)")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise BadRequestData('type must be "Subscription"')
    fragment = _nulls(fragment)
    if isinstance(fragment.get("notification"), dict):
        fragment["notification"] = _nulls(fragment["notification"])
    changes = _members(fragment, expand, now=now)
    out = {**stored, **changes}
    for member, value in fragment.items():
        if value is None and member in out and member not in ("id", "type", "notification"):
            del out[member]  # a JSON null removes an optional member (clause 5.5.8)
    if "notification" in fragment:
        out["notification"] = _notification(fragment["notification"], expand, old=stored)
    if "q" in fragment or "scopeQ" in fragment:
        out["context"] = source
    out["modifiedAt"] = now_text
    _check_whole(out, expand)
    return out


def _nulls(members: dict[str, Any]) -> dict[str, Any]:
    """The members with an NGSI-LD Null written as "urn:ngsi-ld:null" (what a JSON-LD
    processor keeps of a null) read as a JSON null: both remove a member (clause 5.5.8)."""
    return {k: None if v == NGSI_NULL else v for k, v in members.items()}


def _members(body: dict[str, Any], expand: Expand, *, now: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for member, value in body.items():
        if member in READ_ONLY or member in ("id", "type", "notification"):
            continue
        if member not in INPUT_MEMBERS:
            raise BadRequestData(f"Unknown subscription member {member!r} (clause 5.2.12)")
        if value is None or member == "@context":
            continue
        if member == "entities":
            out[member] = [_selector(item, expand) for item in _nonempty_list(member, value)]
        elif member == "watchedAttributes":
            out[member] = [_attr_name(n, expand, member) for n in _nonempty_list(member, value)]
        elif member == "notificationTrigger":
            triggers = _nonempty_list(member, value)
            bad = [t for t in triggers if t not in TRIGGERS]
            if bad:
                raise BadRequestData(f"notificationTrigger: {bad} not in {sorted(TRIGGERS)}")
            out[member] = list(dict.fromkeys(triggers))
        elif member in ("q", "scopeQ", "lang", "subscriptionName", "description"):
            if not isinstance(value, str) or not value:
                raise BadRequestData(f"{member} must be a non-empty string")
            if member == "scopeQ":
                parse_scope_q(value)
            out[member] = value
        elif member == "geoQ":
            out[member] = _geoq(value, expand)
        elif member in ("timeInterval", "throttling"):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise BadRequestData(f"{member} must be a number greater than 0")
            out[member] = value
        elif member == "expiresAt":
            if parse_time(value, field="expiresAt").timestamp() <= now:
                raise BadRequestData("expiresAt is in the past (clause 5.8.1.4)")
            out[member] = value
        elif member in ("isActive", "localOnly", "splitEntities", "temporalChanges"):
            if not isinstance(value, bool):
                raise BadRequestData(f"{member} must be true or false")
            out[member] = value
        elif member == "jsonldContext":
            if not is_uri(value):
                raise BadRequestData("jsonldContext must be a dereferenceable URI")
            out[member] = value
        elif member == "datasetId":
            ids = [value] if isinstance(value, str) else _nonempty_list(member, value)
            if not all(i == "@none" or is_uri(i) for i in ids):
                raise BadRequestData("datasetId entries must be URIs or @none")
            out[member] = ids
        elif member == "csf":  # checked, kept, not used: no context source registrations
            if not isinstance(value, str) or not value:
                raise BadRequestData("csf must be a non-empty string")
            parse_q(value, expand)
            out[member] = value
        elif member == "temporalQ":  # checked, kept, not used (as csf)
            out[member] = _temporal_q(value)
        else:  # expandValues, jsonKeys, ngsildConformance: kept, not used
            out[member] = value
    return out


def _temporal_q(value: Any) -> dict[str, Any]:
    """Clause 5.2.21 TemporalQuery, checked as the temporal API checks its parameters."""
    if not isinstance(value, dict):
        raise BadRequestData("temporalQ must be a TemporalQuery object (clause 5.2.21)")
    unknown = sorted(set(value) - TEMPORAL_Q_MEMBERS)
    if unknown:
        raise BadRequestData(f"temporalQ: unknown members {unknown} (clause 5.2.21)")
    for name, item in value.items():
        if name == "lastN":
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise BadRequestData("temporalQ.lastN must be an integer greater than 0")
        elif not isinstance(item, str):
            raise BadRequestData(f"temporalQ.{name} must be a string")
    params = {k: str(v) for k, v in value.items() if k not in ("aggrMethods", "aggrPeriodDuration")}
    if "aggrMethods" in value:
        params.update(options="aggregatedValues", aggrMethods=value["aggrMethods"])
        if "aggrPeriodDuration" in value:
            params["aggrPeriodDuration"] = value["aggrPeriodDuration"]
    try:
        parse_temporal_query(params)
    except BadRequestData as err:
        raise BadRequestData(f"temporalQ.{err.detail}") from None
    return value


def _nonempty_list(member: str, value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadRequestData(f"{member} must be a non-empty array (clause 5.2.12)")
    return value


def _attr_name(name: Any, expand: Expand, member: str) -> str:
    if not isinstance(name, str) or not name:
        raise BadRequestData(f"{member}: attribute names must be strings")
    if not is_uri(name):
        check_name(name)
    return expand(name)


def _selector(item: Any, expand: Expand) -> dict[str, Any]:
    """Clause 5.2.33 EntitySelector: type (a selection, clause 4.17), id or idPattern."""
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise BadRequestData("entities: each EntitySelector needs a type (clause 5.2.33)")
    extra = set(item) - {"id", "idPattern", "type"}
    if extra:
        raise BadRequestData(f"entities: unknown EntitySelector members {sorted(extra)}")
    out: dict[str, Any] = {"type": type_text(parse_type_expr(item["type"], expand), str)}
    if "id" in item:
        if not is_uri(item["id"]):
            raise BadRequestData(f"entities: id must be a URI, got {item['id']!r}")
        out["id"] = item["id"]
    if "idPattern" in item:
        if not isinstance(item["idPattern"], str):
            raise BadRequestData("entities: idPattern must be a string")
        compile_pattern(item["idPattern"], what="idPattern")
        out["idPattern"] = item["idPattern"]
    return out


def type_text(node: Any, name: Callable[[str], str]) -> str:
    """A type selection tree back as text, each type passed through ``name``."""
    if isinstance(node, str):
        return name(node)
    if isinstance(node, And | Or):
        sep = ";" if isinstance(node, And) else "|"
        return "(" + sep.join(type_text(item, name) for item in node.items) + ")"
    return "*"


def _geoq(value: Any, expand: Expand) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be a GeoQuery object (clause 5.2.13)")
    query = parse_geoquery(
        value.get("georel"),
        value.get("geometry"),
        value.get("coordinates"),
        value.get("geoproperty"),
        expand,
    )
    return {
        "georel": value["georel"],
        "geometry": query.geometry,
        "coordinates": query.coordinates,
        "geoproperty": query.geoproperty,
    }


def _notification(value: Any, expand: Expand, *, old: dict[str, Any] | None) -> dict[str, Any]:
    """NotificationParams (clause 5.2.14); with ``old``, a fragment merged into it."""
    if not isinstance(value, dict):
        raise BadRequestData("notification must be a NotificationParams object")
    out: dict[str, Any] = dict(old["notification"]) if old else dict(NOTIFICATION_DEFAULTS)
    for member, item in value.items():
        if member in NOTIFICATION_STATUS:
            continue  # output only (clause 5.2.14.2)
        if member not in NOTIFICATION_MEMBERS:
            raise BadRequestData(f"notification: unknown member {member!r}")
        if item is None and member != "endpoint":
            # A null removes the member (clause 5.5.8, after IETF RFC 7396); the three
            # with a default go back to it.
            out.pop("attributes" if member == "pick" else member, None)
            out.update({k: v for k, v in NOTIFICATION_DEFAULTS.items() if k not in out})
            continue
        if member in ("attributes", "pick", "omit"):
            out["attributes" if member == "pick" else member] = [
                _attr_name(n, expand, f"notification.{member}")
                for n in _nonempty_list(member, item)
            ]
        elif member == "format":
            if item not in FORMATS:
                raise BadRequestData(f"notification.format: {item!r} not in {sorted(FORMATS)}")
            out[member] = FORMATS[item]
        elif member in ("sysAttrs", "showChanges"):
            if not isinstance(item, bool):
                raise BadRequestData(f"notification.{member} must be true or false")
            out[member] = item
        elif member == "endpoint":
            out[member] = _endpoint(item)
        else:  # join / joinLevel (clause 4.5.23), checked together below
            out[member] = item
    if "endpoint" not in out:
        raise BadRequestData("notification.endpoint is mandatory (clause 5.2.14)")
    try:
        parse_join(out.get("join"), out.get("joinLevel"), None)
    except BadRequestData as err:
        raise BadRequestData(f"notification: {err.detail}") from None
    if out["showChanges"] and out["format"] == "simplified":
        raise BadRequestData("showChanges cannot be true with format keyValues (clause 5.2.14)")
    return out


def _endpoint(value: Any) -> dict[str, Any]:
    """Clause 5.2.15 Endpoint; MQTT URIs as clause 7.2."""
    if not isinstance(value, dict):
        raise BadRequestData("notification.endpoint must be an Endpoint object")
    uri = value.get("uri")
    if not isinstance(uri, str) or not is_uri(uri):
        raise BadRequestData("notification.endpoint.uri must be a URI")
    check_name_length(uri, "notification.endpoint.uri")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError as exc:  # also "Invalid IPv6 URL": it used to be a 500
        raise BadRequestData(f"notification.endpoint.uri: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise BadRequestData(f"notification.endpoint.uri: scheme must be one of {sorted(SCHEMES)}")
    if not parts.hostname:
        raise BadRequestData("notification.endpoint.uri needs a host")
    mqtt = parts.scheme.startswith("mqtt")
    if mqtt:
        topic = unquote(parts.path.lstrip("/"))
        if topic.strip("/") == "":
            raise BadRequestData("an MQTT endpoint uri needs a topic (clause 7.2)")
        if any(c in topic for c in "+#\x00"):  # MQTT 3.1.1 and 5.0 clause 4.7: not in a topic
            raise BadRequestData(  # that is published to
                "notification.endpoint.uri: an MQTT topic cannot hold +, # or NUL"
            )
    out: dict[str, Any] = {"uri": uri, "accept": value.get("accept", "application/json")}
    if out["accept"] not in ACCEPTS:
        raise BadRequestData(f"notification.endpoint.accept must be one of {sorted(ACCEPTS)}")
    for member in ("receiverInfo", "notifierInfo"):
        if member in value:
            out[member] = _key_values(value[member], member)
    if not mqtt:
        for kv in out.get("receiverInfo", ()):
            _check_header(kv["key"], kv["value"])
    for member in ("timeout", "cooldown"):
        if member in value:
            item = value[member]
            if isinstance(item, bool) or not isinstance(item, int | float) or item <= 0:
                raise BadRequestData(f"notification.endpoint.{member} must be greater than 0")
            out[member] = item
    notifier = {kv["key"]: kv["value"] for kv in out.get("notifierInfo", ())}
    qos, version = notifier.get("MQTT-QoS"), notifier.get("MQTT-Version")
    if qos is not None and str(qos) not in ("0", "1", "2"):
        raise BadRequestData("notifierInfo MQTT-QoS must be 0, 1 or 2 (clause 7.2)")
    if version is not None and version not in MQTT_VERSIONS:
        raise BadRequestData(
            f"notifierInfo MQTT-Version must be one of {', '.join(MQTT_VERSIONS)} (clause 7.2)"
        )
    return out


def _check_header(name: str, value: str) -> None:
    """A receiverInfo pair that an http(s) notification can carry as a header."""
    if not HEADER_NAME.fullmatch(name):
        raise BadRequestData(f"notification.endpoint.receiverInfo: {name!r} is not a header name")
    if name.lower() in BROKER_HEADERS:
        raise BadRequestData(
            f"notification.endpoint.receiverInfo: {name} is set by the broker, not the receiver"
        )
    if not HEADER_VALUE.fullmatch(value):
        raise BadRequestData(
            f"notification.endpoint.receiverInfo: the value of {name} must be visible ASCII "
            "characters, with spaces or tabs only between them"
        )


def _key_values(value: Any, member: str) -> list[dict[str, str]]:
    """Clause 5.2.22 KeyValuePair[]."""
    if not isinstance(value, list) or not all(
        isinstance(kv, dict)
        and set(kv) == {"key", "value"}
        and isinstance(kv["key"], str)
        and isinstance(kv["value"], str)
        for kv in value
    ):
        raise BadRequestData(f"notification.endpoint.{member} must be [{{key, value}}] strings")
    return value


def _check_whole(sub: dict[str, Any], expand: Expand) -> None:
    """Cross-member rules of table 5.2.12-1."""
    if "entities" not in sub and "watchedAttributes" not in sub and not sub.get("localOnly"):
        raise BadRequestData("entities or watchedAttributes must be present (clause 5.2.12)")
    if "timeInterval" in sub:
        for member in ("watchedAttributes", "throttling"):
            if member in sub:
                raise BadRequestData(f"timeInterval and {member} cannot both be present")
        if "entities" not in sub:
            raise BadRequestData("timeInterval needs entities (clause 5.2.12)")
    if "q" in sub:
        parse_q(sub["q"], expand)
    if sub.get("temporalChanges"):
        if "timeInterval" in sub:
            raise BadRequestData("temporalChanges and timeInterval cannot both be present")
        if sub["notification"]["endpoint"]["accept"] == "application/geo+json":
            raise BadRequestData(
                "temporalChanges: temporal notifications cannot be sent as application/geo+json"
            )


def status_of(sub: dict[str, Any], now: float) -> str:
    """Clause 5.2.12 table 5.2.12-2: active, paused or expired."""
    expires = sub.get("expiresAt")
    if expires is not None and parse_time(expires).timestamp() <= now:
        return "expired"
    return "active" if sub.get("isActive", True) else "paused"


def render_subscription(
    sub: dict[str, Any], counters: dict[str, Any], compact: Compact, *, now: float
) -> dict[str, Any]:
    """A stored subscription as clause 5.2.12 shows it, names compacted with ``compact``."""
    out: dict[str, Any] = {"id": sub["id"], "type": "Subscription"}
    for member, value in sub.items():
        if member in ("id", "type", "context", "notification", CONTEXT_LINK):
            continue
        if member == "entities":
            value = [_render_selector(s, compact) for s in value]
        elif member == "watchedAttributes":
            value = [compact(n) for n in value]
        elif member == "geoQ":
            value = {**value, "geoproperty": compact(value["geoproperty"])}
        out[member] = value
    out.setdefault("jsonldContext", notification_link(sub))  # clause 5.8.1.4
    out["status"] = status_of(sub, now)
    note = dict(sub["notification"])
    for member in ("attributes", "omit"):
        if member in note:
            note[member] = [compact(n) for n in note[member]]
    if note.get("format") == "simplified":
        note["format"] = "keyValues"
    for member in ("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"):
        if counters.get(member):
            note[member] = counters[member]
    if counters.get("status"):
        note["status"] = counters["status"]
    out["notification"] = note
    return out


def _render_selector(selector: dict[str, Any], compact: Compact) -> dict[str, Any]:
    text = selector["type"]
    tree = parse_type_expr(text, str) if text[:1] in "(*" else text
    return {**selector, "type": type_text(tree, compact)}


def format_epoch(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
