"""Which subscriptions a change concerns, and the Notification it produces (pure).

Clauses 5.8.6 (notification behaviour), 5.3.1 (Notification), 5.2.12 (notificationTrigger),
4.9 / 4.10 / 4.19 (q, geoQ, scopeQ on the changed entity). A subscription is compiled once
(trees parsed, patterns compiled) when a worker loads it; matching a change is then a few
set operations and, only for candidates, the q / geo / scope tests.

Temporal changes (a smartseoul extension; docs/hub.md, "Subscriptions on temporal changes")
------------------------------------------------------------------------------------------
A subscription with ``"temporalChanges": true`` is also notified of temporal provision
writes (clauses 5.6.11 to 5.6.16), each a :class:`TemporalChange`. Selectors and scopeQ test
the temporal entity, watchedAttributes the attributes touched, q and geoQ the instances the
write concerns (written, or deleted as they were; a term holds when any of them satisfies
it), notificationTrigger the events of the change. ``data`` is the temporal representation
(clauses 4.5.7 to 4.5.9) of just what the write added or changed, deletions as clause 4.5.7
records them (``urn:ngsi-ld:null``); the Notification carries ``"temporal": true``.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from smartseoul.hub.entities import NGSI_NULL, VALUE_KEY, parse_time
from smartseoul.hub.errors import TooComplexQuery
from smartseoul.hub.geo import GeoQuery, parse_geoquery
from smartseoul.hub.jsonld import Context
from smartseoul.hub.linked import Join, parse_join
from smartseoul.hub.query import Pattern, compile_pattern, matches_q, parse_q
from smartseoul.hub.render import RenderOptions, render_entity
from smartseoul.hub.selection import matches_scope, matches_types, parse_scope_q, parse_type_expr
from smartseoul.hub.store.base import HistoryRow, TemporalEntityRow
from smartseoul.hub.subscriptions import DEFAULT_TRIGGERS
from smartseoul.hub.temporal import NORMALIZED, SCOPE, TEMPORAL_VALUES, TemporalQuerySpec
from smartseoul.hub.temporal_render import render_temporal_entity

log = logging.getLogger(__name__)

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
    pattern: Pattern | None

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
    temporal: bool  # temporalChanges: also notified of temporal provision writes
    join: Join | None = None  # notification.join / joinLevel (clauses 5.2.14, 4.5.23)

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
        if not self.selects_entity(entity):
            return False
        try:
            if self.q is not None and not matches_q(entity, self.q):
                return False
        except TooComplexQuery as exc:
            return self._gave_up(entity, exc)
        return self.geo is None or self.geo.matches(entity)

    def selects_entity(self, entity: Entity) -> bool:
        """Entity selectors and scopeQ only: what needs no attribute."""
        try:
            if self.selectors and not any(s.matches(entity) for s in self.selectors):
                return False
        except TooComplexQuery as exc:
            return self._gave_up(entity, exc)
        return self.scope is None or matches_scope(entity.get("scope", ()), self.scope)

    def _gave_up(self, entity: Entity, exc: TooComplexQuery) -> bool:
        """A pattern (idPattern, q ~=) that ran out of time on this entity does not select
        it; the notifier goes on with the other subscriptions and changes."""
        log.warning("subscription %s does not select %s: %s", self.id, entity["id"], exc.detail)
        return False


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
        render=_render_options(note, sub),
        show_changes=bool(note.get("showChanges")),
        temporal=bool(sub.get("temporalChanges")),
        join=parse_join(note.get("join"), note.get("joinLevel"), None),
    )


# Expanded names of the entity members notification.pick / omit may list (clause 4.21).
ENTITY_MEMBERS = {"@id": "id", "@type": "type", "https://uri.etsi.org/ngsi-ld/scope": "scope"}


def _render_options(note: dict[str, Any], sub: dict[str, Any]) -> RenderOptions:
    """Clause 5.8.6: notification.pick reduces each entity to the members listed (id and
    type included), notification.omit removes them. A stored pick is kept as ``attributes``:
    when it names an entity member, only the entity members it names are kept."""
    keep = note.get("attributes")
    drop = set(note.get("omit", ()))
    picked = None if keep is None else set(keep)
    members = {m for m in ENTITY_MEMBERS if picked is not None and m in picked}

    def kept(member: str) -> bool:
        return (not members or member in members) and member not in drop

    return RenderOptions(
        format=note.get("format", "normalized"),
        sys_attrs=bool(note.get("sysAttrs")),
        attrs=None if picked is None else frozenset(picked - ENTITY_MEMBERS.keys()),
        omit=frozenset(drop - ENTITY_MEMBERS.keys()) if "omit" in note else None,
        lang=sub.get("lang"),
        datasets=frozenset(sub["datasetId"]) if "datasetId" in sub else None,
        keep_id=kept("@id"),
        keep_type=kept("@type"),
        keep_scope=kept("https://uri.etsi.org/ngsi-ld/scope"),
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
        if opts.format == "concise" and kind != "GeoProperty":
            del item["type"]  # clause 4.5.1: concise, the value member tells the kind
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
    subscription_id: str, data: list[dict[str, Any]], *, now_text: str, temporal: bool = False
) -> dict[str, Any]:
    """Clause 5.3.1: a Notification; ``temporal`` marks one of temporal changes with the
    member ``"temporal": true`` (a smartseoul extension), absent from the others."""
    out: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": subscription_id,
        "notifiedAt": now_text,
    }
    if temporal:
        out["temporal"] = True
    out["data"] = data
    return out


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


# -- temporal changes (module docstring) ---------------------------------------------------


@dataclass(slots=True)
class TemporalChange:
    """What one temporal provision write did to one temporal entity.

    ``entity`` is the temporal entity after the write (before it, for a deletion); ``at``
    the write's time. ``written`` holds the history rows appended or, for a modification,
    the replacing row; ``deleted`` the rows deleted, as they were. ``events`` maps each
    touched attribute to attributeCreated, attributeUpdated or attributeDeleted.
    ``whole_attribute``: ``deleted`` is every instance of the deleted attribute (shown as
    one null instance per datasetId). ``previous`` maps instanceIds to the rows a
    modification or deletion replaced (showChanges). ``scope_written``: the write set the
    scope as plain strings (shown as a scope instance).
    """

    entity: TemporalEntityRow
    at: float
    written: list[HistoryRow] = field(default_factory=list)
    deleted: list[HistoryRow] = field(default_factory=list)
    events: dict[str, str] = field(default_factory=dict)
    created: bool = False
    entity_deleted: bool = False
    whole_attribute: bool = False
    previous: dict[str, HistoryRow] = field(default_factory=dict)
    scope_written: bool = False
    subject: Entity = field(init=False)  # what selectors, q, geoQ and scopeQ are tested on

    def __post_init__(self) -> None:
        attrs: dict[str, list[dict[str, Any]]] = {}
        for row in self.written or self.deleted:
            if not row.deleted:
                attrs.setdefault(row.attr, []).append(row.data)
        self.subject = {
            "id": self.entity.entity_id,
            "type": self.entity.types,
            "scope": self.entity.scopes,
            "attrs": attrs,
        }


def temporal_matches(compiled: CompiledSubscription, change: TemporalChange, *, now: float) -> bool:
    """Whether a temporal write triggers a notification of an opted-in subscription.

    The rules of :func:`matches`, on the instances the write concerns (module docstring).
    """
    if not compiled.temporal:
        return False
    before = None if change.created else change.subject
    after = None if change.entity_deleted else change.subject
    return matches(compiled, before, after, change.events, now=now)


def temporal_notification_entity(
    compiled: CompiledSubscription, change: TemporalChange, *, now_text: str
) -> dict[str, Any]:
    """One entity of a temporal Notification's data: the temporal representation of what
    the write added, changed or deleted, in the subscription's format (module docstring)."""
    opts = compiled.render
    compact = compiled.context.compact
    spec = TemporalQuerySpec(
        mode=NORMALIZED if opts.format == "normalized" else TEMPORAL_VALUES,
        sys_attrs=opts.sys_attrs,
    )
    shown = dataclasses.replace(change.entity, scopes=[])
    if change.entity_deleted:
        out = render_temporal_entity(shown, [], compact=compact, spec=spec)
        out["deletedAt"] = now_text
        return out
    if change.scope_written:
        shown.scopes = change.entity.scopes
    rows = change.written or _deletion_rows(change, now_text)
    rows = [row for row in rows if _kept(row, opts)]
    out = render_temporal_entity(shown, rows, compact=compact, spec=spec, lang=opts.lang)
    if compiled.show_changes and spec.mode == NORMALIZED and change.previous:
        _add_previous(out, change.previous)
    return out


def _kept(row: HistoryRow, opts: RenderOptions) -> bool:
    """notification.attributes / omit and the subscription's datasetId, as entities have them."""
    if row.attr != SCOPE:
        if opts.attrs is not None and row.attr not in opts.attrs:
            return False
        if opts.omit is not None and row.attr in opts.omit:
            return False
    return opts.datasets is None or (row.dataset_id or "@none") in opts.datasets


def _deletion_rows(change: TemporalChange, now_text: str) -> list[HistoryRow]:
    """The deleted instances as clause 4.5.7 records a deletion: urn:ngsi-ld:null, deletedAt.

    A deleted instance keeps its instanceId and observedAt; a deleted attribute gives one
    instance per datasetId, of the kind of its last row, with neither.
    """
    if not change.whole_attribute:
        return [_null_row(row, change.at, now_text, keep=True) for row in change.deleted]
    last: dict[tuple[str, str], HistoryRow] = {}
    for row in change.deleted:
        last[(row.attr, row.dataset_id)] = row
    return [_null_row(row, change.at, now_text, keep=False) for row in last.values()]


def _null_row(row: HistoryRow, at: float, now_text: str, *, keep: bool) -> HistoryRow:
    kind = row.data.get("type", "Property")
    data: dict[str, Any] = {"type": kind}
    data[VALUE_KEY.get(kind, "value")] = (
        {"@none": NGSI_NULL} if kind == "LanguageProperty" else NGSI_NULL
    )
    if row.dataset_id:
        data["datasetId"] = row.dataset_id
    if keep and "observedAt" in row.data:
        data["observedAt"] = row.data["observedAt"]
    data["deletedAt"] = now_text
    return HistoryRow(
        entity_id=row.entity_id,
        attr=row.attr,
        instance_id=row.instance_id if keep else "",
        dataset_id=row.dataset_id,
        observed_at=row.observed_at if keep else None,
        modified_at=at,
        data=data,
        deleted=True,
    )


def _add_previous(out: dict[str, Any], previous: dict[str, HistoryRow]) -> None:
    """showChanges: previousValue / previousObject / ... of each replaced or deleted instance."""
    for instances in out.values():
        if not isinstance(instances, list):
            continue
        for item in instances:
            old = previous.get(str(item.get("instanceId"))) if isinstance(item, dict) else None
            if old is None:
                continue
            kind = old.data.get("type", "Property")
            key = VALUE_KEY.get(kind, "value")
            if key in old.data:
                item[PREVIOUS_KEY.get(kind, "previousValue")] = old.data[key]
