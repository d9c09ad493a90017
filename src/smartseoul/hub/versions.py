"""Payloads for clients of an earlier NGSI-LD version (clause 4.3.6.8, ``Prefer: ngsi-ld=1.6``).

A retrieve or query request may ask for entities that conform to an earlier version of the
specification. The broker then applies the fallbacks of tables 4.3.6.8-1 to 4.3.6.8-3 to
each entity (members introduced later are removed, attribute kinds introduced later are
reformatted as a Property or Relationship) and answers with ``Preference-Applied:
ngsi-ld=<version>`` (clause 6.3.6). A version newer than this broker's (1.9) gets 1.9
payloads; a Prefer header that does not name an ``ngsi-ld`` version is ignored, as RFC 7240
lets a server ignore a preference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from smartseoul.hub.entities import ATTR_TYPES
from smartseoul.hub.store.base import HistoryRow, TemporalEntityRow

Version = tuple[int, int]
CURRENT: Version = (1, 9)
_PREFERENCE = re.compile(r"(?:^|[,;\s])ngsi-ld\s*=\s*\"?(\d+)\.(\d+)\"?", re.IGNORECASE)

# Members of an attribute instance, by the version that introduced them (tables 4.3.6.8-2/3).
_MEMBERS_SINCE: tuple[tuple[Version, frozenset[str]], ...] = (
    ((1, 9), frozenset({"expiresAt", "valueType"})),
    ((1, 8), frozenset({"objectType"})),
    ((1, 3), frozenset({"datasetId", "observedAt", "unitCode"})),
)


def preferred(header: str | None) -> Version | None:
    """The version a ``Prefer`` header asks for, capped at this broker's; None if none."""
    if not header:
        return None
    match = _PREFERENCE.search(header)
    if match is None:
        return None
    wanted = (int(match.group(1)), int(match.group(2)))
    return min(max(wanted, (1, 0)), CURRENT)


def applied_header(version: Version) -> dict[str, str]:
    return {"Preference-Applied": f"ngsi-ld={version[0]}.{version[1]}"}


def ok_status(version: Version | None) -> int:
    """203 Non-Authoritative Information when the body was amended for an earlier version
    (clauses 6.4.3.2, 6.5.3.1, 6.18.3.2, 6.19.3.1, 6.23.3.1), else 200."""
    return 203 if version is not None and version < CURRENT else 200


def downgrade(
    entity: dict[str, Any], version: Version, compact: Callable[[str], str]
) -> dict[str, Any]:
    """A copy of the stored-form ``entity`` as a client of ``version`` can read it.

    ``compact`` turns VocabProperty IRIs back into the client's terms, since a Property
    value is not compacted when rendered.
    """
    if version >= CURRENT:
        return entity
    out = dict(entity)
    if version < (1, 9):
        out.pop("expiresAt", None)
    if version < (1, 4):
        out.pop("scope", None)
    if version < (1, 3):
        out["type"] = out["type"][:1]  # table 4.3.6.8-1, note 1
    attrs = {}
    for iri, instances in entity["attrs"].items():
        if version < (1, 3):  # notes 2 and 3: one instance, the default one first
            default = [i for i in instances if "datasetId" not in i]
            instances = (default or instances)[:1]
        attrs[iri] = [downgrade_instance(inst, version, compact) for inst in instances]
    out["attrs"] = attrs
    return out


def downgrade_instance(
    inst: dict[str, Any], version: Version, compact: Callable[[str], str]
) -> dict[str, Any]:
    """One attribute instance (sub-attributes included) as ``version`` reads it."""
    kind = inst.get("type")
    out = dict(inst)
    if version < (1, 8):
        # Table 4.3.6.8-1: reformat attribute as Property (or Relationship).
        if kind == "JsonProperty":
            out = {"type": "Property", "value": out.pop("json"), **_rest(out)}
        elif kind == "VocabProperty":
            vocab = out.pop("vocab")
            value = [compact(v) for v in vocab] if isinstance(vocab, list) else compact(vocab)
            out = {"type": "Property", "value": value, **_rest(out)}
        elif kind == "ListProperty":
            out = {"type": "Property", "value": out.pop("valueList"), **_rest(out)}
        elif kind == "ListRelationship":
            items = out.pop("objectList")
            objects = [i.get("object") if isinstance(i, dict) else i for i in items]
            out = {"type": "Relationship", "object": objects, **_rest(out)}
    if version < (1, 4) and kind == "LanguageProperty":
        out = {"type": "Property", "value": out.pop("languageMap"), **_rest(out)}
    for since, members in _MEMBERS_SINCE:
        if version < since:
            for member in members:
                out.pop(member, None)
    for member, item in list(out.items()):
        if isinstance(item, dict) and item.get("type") in ATTR_TYPES:  # a sub-attribute
            out[member] = downgrade_instance(item, version, compact)
    return out


def downgrade_temporal(
    entity: TemporalEntityRow,
    rows: Sequence[HistoryRow],
    version: Version,
    compact: Callable[[str], str],
) -> tuple[TemporalEntityRow, list[HistoryRow]]:
    """A temporal entity and its history rows as ``version`` reads them: the rules of
    :func:`downgrade` on each instance; before 1.3, one type and only the instances of
    one instance per attribute (the default one if the attribute has it)."""
    if version >= CURRENT:
        return entity, list(rows)
    if version < (1, 4):
        entity = replace(entity, scopes=[])
    if version < (1, 3):
        entity = replace(entity, types=entity.types[:1])
        chosen: dict[str, str] = {}  # per attribute: "" (the default) if it has one
        for row in rows:
            chosen.setdefault(row.attr, row.dataset_id)
            if row.dataset_id == "":
                chosen[row.attr] = ""
        rows = [r for r in rows if r.dataset_id == chosen[r.attr]]
    out = [replace(r, data=downgrade_instance(r.data, version, compact)) for r in rows]
    return entity, out


# Attribute types introduced after 1.0, and what an older client reads instead (table 4.3.6.8-1).
_KINDS_SINCE: dict[str, tuple[Version, str]] = {
    "JsonProperty": ((1, 8), "Property"),
    "VocabProperty": ((1, 8), "Property"),
    "ListProperty": ((1, 8), "Property"),
    "ListRelationship": ((1, 8), "Relationship"),
    "LanguageProperty": ((1, 4), "Property"),
}


def downgrade_kinds(kinds: set[str], version: Version | None) -> list[str]:
    """Attribute type names as a client of ``version`` knows them, sorted (discovery)."""
    if version is None:
        return sorted(kinds)
    return sorted({_kind_for(kind, version) for kind in kinds})


def _kind_for(kind: str, version: Version) -> str:
    since, older = _KINDS_SINCE.get(kind, ((1, 0), kind))
    return older if version < since else kind


def _rest(inst: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inst.items() if k != "type"}
