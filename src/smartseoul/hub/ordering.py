"""Entity ordering: ``orderBy``, ``collation``, ``orderFrom``, ``orderGeometry`` (clause 4.23.3).

``orderBy`` is a comma-separated list of terms, each an Entity member (``id``, ``type``,
``scope``) or an attribute path as in ``q`` (``name``, ``name.observedAt``,
``address[city]``), optionally followed by ``;asc`` (the default), ``;desc``,
``;dist-asc`` or ``;dist-desc``. The terms apply one after the other: the second orders
entities the first leaves equal, and so on. Distance terms need ``orderFrom``
(coordinates, clause 4.10) and take ``orderGeometry`` (default ``Point``); they order by
the distance in metres from that geometry to the attribute's geometry.

How values compare (the spec leaves it to the implementation):

* an attribute's value is the first scalar its target offers, from the default instance
  (no datasetId) if there is one: what ``q`` compares (``hub.query.target_scalars``), so
  a Relationship orders by its object, a LanguageProperty by its first string;
* values of different kinds order numbers, then strings, then booleans; entities that
  have no value for a term come after all others whichever the direction, in their
  previous order;
* strings compare by Unicode code point (the ICU root collation on the ASCII range);
  ``collation`` must be a valid language tag (IETF RFC 6067, BadRequestData otherwise);
  the strength keywords ``-ks-level1`` and ``-ks-level2`` make the comparison ignore
  case; other collations are accepted and order by code point.

Clause 5.7.2.4: ordering needs the query limited to the local scope (``local=true``, or
``type=*``); otherwise BadRequestData. Ordered queries read every matching entity, sort
them, then page, so their cost grows with the number of matches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from shapely.geometry import shape

from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.geo import GeoQuery, parse_geoquery
from smartseoul.hub.query import Path, parse_path, path_scalars, value_kind

Expand = Callable[[str], str]
DIRECTIONS = ("asc", "desc", "dist-asc", "dist-desc")
ENTITY_MEMBERS = ("id", "type", "scope")
# A language tag with extensions (RFC 5646 / 6067): letters, digits and hyphens.
_COLLATION = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
_KIND_RANK = {"number": 0, "str": 1, "bool": 2}


@dataclass(frozen=True, slots=True)
class OrderTerm:
    """One ``orderBy`` term: an Entity member or an attribute path, and a direction."""

    direction: str
    member: str | None = None  # "id" | "type" | "scope"
    path: Path | None = None

    @property
    def by_distance(self) -> bool:
        return self.direction.startswith("dist-")


@dataclass(frozen=True, slots=True)
class Ordering:
    terms: tuple[OrderTerm, ...]
    reference: GeoQuery | None = None  # orderFrom / orderGeometry, for distance terms
    ignore_case: bool = False


def parse_ordering(
    order_by: Any,
    collation: Any,
    order_from: Any,
    order_geometry: Any,
    expand: Expand,
) -> Ordering | None:
    """The ordering parameters as an Ordering, None without ``orderBy``.

    ``order_by`` is the comma-separated text or a list of terms (an OrderingParams object,
    clause 5.2.43); ``order_from`` JSON text or a parsed array.

    >>> o = parse_ordering("name,age;desc", None, None, None, lambda t: "ex:" + t)
    >>> [(t.path.attr, t.direction) for t in o.terms]
    [('ex:name', 'asc'), ('ex:age', 'desc')]
    """
    if order_by is None:
        if order_from is not None or order_geometry is not None or collation is not None:
            raise BadRequestData("collation, orderFrom and orderGeometry need orderBy (4.23.3)")
        return None
    items = order_by if isinstance(order_by, list) else str(order_by).split(",")
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise BadRequestData(f"orderBy: expected comma-separated terms, got {order_by!r}")
    terms = tuple(_term(item.strip(), expand) for item in items)
    ignore_case = False
    if collation is not None:
        if not isinstance(collation, str) or not _COLLATION.match(collation):
            raise BadRequestData(f"collation: {collation!r} is not an ICU collation (RFC 6067)")
        keys = collation.lower().split("-")
        ignore_case = any(
            keys[i] == "ks" and i + 1 < len(keys) and keys[i + 1] in ("level1", "level2")
            for i in range(len(keys))
        )
    reference = None
    if any(term.by_distance for term in terms):
        if order_from in (None, "", []):
            raise BadRequestData("orderBy by distance needs orderFrom (clause 5.7.2.4)")
        reference = parse_geoquery(
            "near;maxDistance==1", order_geometry or "Point", order_from, None, expand
        )
    elif order_from is not None or order_geometry is not None:
        raise BadRequestData("orderFrom and orderGeometry apply to dist-asc / dist-desc terms")
    return Ordering(terms, reference, ignore_case)


def _term(text: str, expand: Expand) -> OrderTerm:
    name, _, direction = text.partition(";")
    direction = direction.strip() or "asc"
    if direction not in DIRECTIONS:
        raise BadRequestData(
            f"orderBy: {direction!r} is not one of {', '.join(DIRECTIONS)} (clause 4.23.3)"
        )
    name = name.strip()
    if name in ENTITY_MEMBERS:
        if direction.startswith("dist-"):
            raise BadRequestData(f"orderBy: {name} cannot be ordered by distance")
        return OrderTerm(direction, member=name)
    path = parse_path(name, expand, what="orderBy")
    if direction.startswith("dist-") and (path.sub or path.keys is not None):
        raise BadRequestData(f"orderBy: {name} is not a GeoProperty to order by distance")
    return OrderTerm(direction, path=path)


def sort_entities(entities: Sequence[dict[str, Any]], ordering: Ordering) -> list[dict[str, Any]]:
    """Stored-form entities in the order the terms give (module docstring)."""
    ordered = list(entities)
    for term in reversed(ordering.terms):  # stable sorts, the last term first
        keyed = [(_key(entity, term, ordering), entity) for entity in ordered]
        present = [pair for pair in keyed if pair[0] is not None]
        present.sort(key=lambda pair: pair[0], reverse=term.direction.endswith("desc"))
        ordered = [e for _, e in present] + [e for key, e in keyed if key is None]
    return ordered


def _key(entity: dict[str, Any], term: OrderTerm, ordering: Ordering) -> Any:
    if term.member is not None:
        value = entity.get("id") if term.member == "id" else (entity.get(term.member) or [None])[0]
        return None if value is None else _scalar_key(value, ordering)
    assert term.path is not None
    instances = entity.get("attrs", {}).get(term.path.attr)
    if not instances:
        return None
    instances = sorted(instances, key=lambda inst: "datasetId" in inst)  # default first
    if term.by_distance:
        assert ordering.reference is not None
        distances = [_distance(inst, ordering.reference) for inst in instances]
        found = [d for d in distances if d is not None]
        return min(found) if found else None
    for inst in instances:
        for scalar in path_scalars(inst, term.path):
            if value_kind(scalar) in _KIND_RANK:
                return _scalar_key(scalar, ordering)
    return None


def _scalar_key(value: Any, ordering: Ordering) -> tuple[int, Any]:
    kind = value_kind(value)
    if kind == "str" and ordering.ignore_case:
        return 1, value.casefold()
    if kind in _KIND_RANK:
        return _KIND_RANK[kind], value
    return 3, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _distance(instance: dict[str, Any], reference: GeoQuery) -> float | None:
    value = instance.get("value")
    if instance.get("type") != "GeoProperty" or not isinstance(value, dict):
        return None
    try:
        return reference.distance(shape(value))
    except (ValueError, TypeError, AttributeError):
        return None


__all__ = ["OrderTerm", "Ordering", "parse_ordering", "sort_entities"]
