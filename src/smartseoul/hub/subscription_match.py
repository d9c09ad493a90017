"""Which subscriptions a change concerns, and the Notification it produces (pure).

Clauses 5.8.6 (notification behaviour), 5.3.1 (Notification), 5.2.12 (notificationTrigger),
4.9 / 4.10 / 4.19 (q, geoQ, scopeQ on the changed entity). A subscription is compiled once
(trees parsed, patterns compiled) when a worker loads it; matching a change is then a few
set operations and, only for candidates, the q / geo / scope tests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.entities import NGSI_NULL, VALUE_KEY, parse_time
from smartseoul.hub.geo import GeoQuery, parse_geoquery
from smartseoul.hub.jsonld import Context
from smartseoul.hub.query import compile_pattern, matches_q, parse_q
from smartseoul.hub.render import RenderOptions, render_entity
from smartseoul.hub.selection import matches_scope, matches_types, parse_scope_q, parse_type_expr
from smartseoul.hub.subscriptions import DEFAULT_TRIGGERS

Entity = dict[str, Any]
ATTRIBUTE_TRIGGERS = ("attributeCreated", "attributeUpdated", "attributeDeleted")
IGNORED_MEMBERS = frozenset({"createdAt", "modifiedAt", "instanceId"})
PREVIOUS_KEY = {
    "Property": "previousValue",
    "GeoProperty": "previousValue",
    "Relationship": "previousObject",
    "LanguageProperty": "previousLanguageMap",
    "VocabProperty": "previousVocab",
    "JsonProperty": "previousJson",
    "ListProperty": "previousValueList",
    "ListRelationship": "previousObjectList",
}


@dataclass(frozen=True, slots=True)
class Selector:
    types: Any  # a type selection tree of IRIs
    simple_type: str | None  # the one type IRI, when the selection is a single type
    entity_id: str | None
    pattern: re.Pattern[str] | None

    def matches(self, entity: Entity) -> bool:
        if self.entity_id is not None and entity["id"] != self.entity_id:
            return False
        if self.pattern is not None and not self.pattern.search(entity["id"]):
            return False
        return matches_types(entity["type"], self.types)


@dataclass(slots=True)
class CompiledSubscription:
    """A stored subscription ready for matching and rendering in one worker."""

    sub: dict[str, Any]
    tenant: str
    context: Context  # compacts notification names (jsonldContext)
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: Any
    geo: GeoQuery | None
    scope: Any
    expires_at: float | None
    render: RenderOptions
    show_changes: bool

    @property
    def id(self) -> str:
        return self.sub["id"]

    @property
    def active(self) -> bool:
        return bool(self.sub.get("isActive", True))

    @property
    def periodic(self) -> bool:
        return "timeInterval" in self.sub

    def live(self, now: float) -> bool:
        """Clause 5.8.6: only an active (not paused, not expired) subscription notifies."""
        return self.active and (self.expires_at is None or now < self.expires_at)

    def selects(self, entity: Entity) -> bool:
        """Entity selectors, q, geoQ and scopeQ (clause 5.8.6) on one stored entity."""
        if self.selectors and not any(s.matches(entity) for s in self.selectors):
            return False
        if self.q is not None and not matches_q(entity, self.q):
            return False
        if self.geo is not None and not self.geo.matches(entity):
            return False
        return self.scope is None or matches_scope(entity.get("scope", ()), self.scope)


def compile_subscription(
    sub: dict[str, Any], tenant: str, query_context: Context, notify_context: Context
) -> CompiledSubscription:
    """Parse the trees of a stored subscription.

    ``query_context`` is the @context ``q`` was written against (the stored ``context``);
    ``notify_context`` the one of ``jsonldContext``, used to compact notifications.
    """
    selectors = []
    for item in sub.get("entities", ()):
        text = item["type"]
        tree = parse_type_expr(text, str)
        selectors.append(
            Selector(
                types=tree,
                simple_type=tree if isinstance(tree, str) else None,
                entity_id=item.get("id"),
                pattern=compile_pattern(item["idPattern"], what="idPattern")
                if "idPattern" in item
                else None,
            )
        )
    triggers = set(sub.get("notificationTrigger", DEFAULT_TRIGGERS))
    if "entityUpdated" in triggers:  # clause 5.2.12: the three attribute triggers
        triggers.update(ATTRIBUTE_TRIGGERS)
    geo = sub.get("geoQ")
    note = sub["notification"]
    expires = sub.get("expiresAt")
    return CompiledSubscription(
        sub=sub,
        tenant=tenant,
        context=notify_context,
        selectors=tuple(selectors),
        watched=frozenset(sub["watchedAttributes"]) if "watchedAttributes" in sub else None,
        triggers=frozenset(triggers),
        q=parse_q(sub["q"], query_context.expand) if "q" in sub else None,
        geo=parse_geoquery(
            geo["georel"], geo["geometry"], geo["coordinates"], geo["geoproperty"], str
        )
        if geo
        else None,
        scope=parse_scope_q(sub["scopeQ"]) if "scopeQ" in sub else None,
        expires_at=parse_time(expires).timestamp() if expires else None,
        render=RenderOptions(
            format=note.get("format", "normalized"),
            sys_attrs=bool(note.get("sysAttrs")),
            attrs=frozenset(note["attributes"]) if "attributes" in note else None,
            omit=frozenset(note["omit"]) if "omit" in note else None,
            lang=sub.get("lang"),
            datasets=frozenset(sub["datasetId"]) if "datasetId" in sub else None,
        ),
        show_changes=bool(note.get("showChanges")),
    )


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Clause 5.8.6: changed when any member (children included) has a different value."""

    def strip(inst: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in inst.items() if k not in IGNORED_MEMBERS}

    return len(a) == len(b) and all(strip(x) == strip(y) for x, y in zip(a, b, strict=True))


def attribute_events(
    before: Entity | None, after: Entity | None, changed: Iterable[str] | None = None
) -> dict[str, str]:
    """{attribute IRI: attributeCreated | attributeUpdated | attributeDeleted} of a change.

    ``changed`` limits the comparison to the attributes the operation wrote or deleted;
    None compares every attribute. Entity creation creates every attribute.

    >>> before = {"attrs": {"a": [{"type": "Property", "value": 1}]}}
    >>> after = {"attrs": {"a": [{"type": "Property", "value": 2}], "b": []}}
    >>> attribute_events(before, {"attrs": {"b": [{"type": "Property", "value": 0}]}})
    {'a': 'attributeDeleted', 'b': 'attributeCreated'}
    """
    old = before["attrs"] if before else {}
    new = after["attrs"] if after else {}
    names = set(old) | set(new) if changed is None else set(changed)
    out: dict[str, str] = {}
    for name in sorted(names):
        had, has = bool(old.get(name)), bool(new.get(name))
        if has and not had:
            out[name] = "attributeCreated"
        elif had and not has:
            out[name] = "attributeDeleted"
        elif has and not _same(old[name], new[name]):
            out[name] = "attributeUpdated"
    return out


def matches(
    compiled: CompiledSubscription,
    before: Entity | None,
    after: Entity | None,
    events: dict[str, str],
    *,
    now: float,
) -> bool:
    """Whether a change of one entity triggers a notification (clauses 5.8.6, 5.2.12).

    ``events`` is what :func:`attribute_events` gives for the change.
    """
    if compiled.periodic or not compiled.live(now):
        return False
    entity = after if after is not None else before
    if entity is None or not compiled.selects(entity):
        return False
    watched = compiled.watched
    triggers = compiled.triggers
    if before is None:
        if "entityCreated" in triggers and (watched is None or watched & entity["attrs"].keys()):
            return True
    elif after is None:
        return "entityDeleted" in triggers and (
            watched is None or bool(watched & entity["attrs"].keys())
        )
    return any(
        kind in triggers and (watched is None or name in watched) for name, kind in events.items()
    )


def notification_entity(
    compiled: CompiledSubscription,
    before: Entity | None,
    after: Entity | None,
    events: dict[str, str],
    *,
    now_text: str,
) -> dict[str, Any]:
    """One entity of a Notification's data (clause 5.8.6), in the subscription's format."""
    compact = compiled.context.compact
    opts = compiled.render
    if after is None:  # an entity deletion
        assert before is not None
        out = render_entity({**before, "attrs": {}}, compact, opts)
        if compiled.show_changes:
            out.update(render_entity(before, compact, opts))
        out["deletedAt"] = now_text
        return out
    out = render_entity(after, compact, opts)
    old_attrs = before["attrs"] if before else {}
    for name, kind in events.items():
        if opts.attrs is not None and name not in opts.attrs:
            continue
        key = compact(name)
        if kind == "attributeDeleted":
            out[key] = _deleted_attribute(old_attrs[name], compiled, now_text)
        elif kind == "attributeUpdated" and compiled.show_changes and key in out:
            out[key] = _with_previous(out[key], old_attrs[name], after["attrs"][name], compact)
    return out


def _deleted_attribute(
    instances: list[dict[str, Any]], compiled: CompiledSubscription, now_text: str
) -> Any:
    """Clause 5.8.6: a deleted attribute is urn:ngsi-ld:null unless more is needed."""
    opts = compiled.render
    needs_more = opts.sys_attrs or compiled.show_changes or any("datasetId" in i for i in instances)
    if not needs_more or opts.format == "simplified":
        return NGSI_NULL
    out = []
    for inst in instances:
        kind = inst.get("type", "Property")
        key = VALUE_KEY.get(kind, "value")
        item: dict[str, Any] = {"type": kind}
        item[key] = {"@none": NGSI_NULL} if kind == "LanguageProperty" else NGSI_NULL
        if "datasetId" in inst:
            item["datasetId"] = inst["datasetId"]
        if opts.sys_attrs:
            item["deletedAt"] = now_text
        if compiled.show_changes and key in inst:
            item[PREVIOUS_KEY.get(kind, "previousValue")] = inst[key]
        out.append(item)
    return out[0] if len(out) == 1 else out


def _with_previous(
    rendered: Any, old: list[dict[str, Any]], new: list[dict[str, Any]], compact: Any
) -> Any:
    """Add previousValue / previousObject / ... (clause 5.2.14 showChanges) per instance."""
    previous = {inst.get("datasetId"): inst for inst in old}
    items = rendered if isinstance(rendered, list) else [rendered]
    out = []
    for item, inst in zip(items, new, strict=False):
        before = previous.get(inst.get("datasetId"))
        kind = inst.get("type", "Property")
        key = VALUE_KEY.get(kind, "value")
        if before is not None and key in before and before.get(key) != inst.get(key):
            if not isinstance(item, dict) or (
                set(item) - {"value"} == set() and kind == "Property"
            ):
                item = {"value": item.get("value") if isinstance(item, dict) else item}
            item = {**item, PREVIOUS_KEY.get(kind, "previousValue"): before[key]}
        out.append(item)
    return out if isinstance(rendered, list) else out[0]


def build_notification(
    subscription_id: str, data: list[dict[str, Any]], *, now_text: str
) -> dict[str, Any]:
    """Clause 5.3.1: a Notification."""
    return {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": subscription_id,
        "notifiedAt": now_text,
        "data": data,
    }


def candidates(
    by_type: dict[str, list[CompiledSubscription]],
    by_attr: dict[str, list[CompiledSubscription]],
    general: Collection[CompiledSubscription],
    types: Iterable[str],
    attrs: Iterable[str],
) -> list[CompiledSubscription]:
    """Subscriptions that may concern an entity of ``types`` whose ``attrs`` changed.

    ``by_type`` holds subscriptions whose selectors are single types; ``by_attr`` those with
    only watchedAttributes; ``general`` the rest (type expressions, ``*``).
    """
    seen: dict[str, CompiledSubscription] = {}
    for t in types:
        for c in by_type.get(t, ()):
            seen.setdefault(c.id, c)
    for a in attrs:
        for c in by_attr.get(a, ()):
            seen.setdefault(c.id, c)
    for c in general:
        seen.setdefault(c.id, c)
    return list(seen.values())
