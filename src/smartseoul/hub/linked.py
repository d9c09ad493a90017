"""Linked Entity Retrieval (clause 4.5.23): ``join=inline|flat``, ``joinLevel``, ``containedBy``.

A retrieve or query answer can carry the entities its Relationships and ListRelationships
point at. This broker holds no context source registrations, so a Linked Entity is one
stored locally in the same tenant; a target it does not hold is left as a plain URI.

- ``inline`` (clause 4.5.23.2): each returned Relationship gets an ``entity`` member with
  the target entity (a list when its ``object`` is an array of URIs), each ListRelationship
  an ``entityList`` with the targets of its ``objectList`` in order; in the simplified
  format the target entity stands in place of the URI.
- ``flat`` (clause 4.5.23.3): the answer is an array of the linking entities followed by
  every Linked Entity, each once: hop by hop, in the order of the linking entities, of
  their attribute IRIs and of the objects.

``joinLevel`` (default 1) is how many Relationship hops are followed. "Previously
encountered" URIs (clauses 5.7.1.5, 5.7.2.5) are not expanded again: in ``flat``, any
entity already in the answer; in ``inline``, an entity on the path from the linking
entity (so loops end) and those listed in ``containedBy``. Only the attributes the
projection returns are followed; a Linked Entity is rendered with the nested projection
given for its Relationship (``pick=isParked{name}``), else with the request's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.entities import is_uri
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.render import LINKED, RenderOptions

Entity = dict[str, Any]
Fetch = Callable[[list[str]], Awaitable[dict[str, Entity]]]

JOIN_MODES = ("flat", "inline")


@dataclass(frozen=True, slots=True)
class Join:
    """A request's Linked Entity retrieval: ``mode`` is ``flat`` or ``inline``."""

    mode: str
    level: int = 1
    contained_by: frozenset[str] = frozenset()


def parse_join(join: Any, level: Any, contained_by: Any) -> Join | None:
    """The ``join``, ``joinLevel`` and ``containedBy`` parameters (clause 6.4.3.2);
    None when no Linked Entity retrieval is asked for (absent or ``@none``)."""
    if join is None or join == "@none":
        return None
    if join not in JOIN_MODES:
        raise BadRequestData(f'join must be "flat", "inline" or "@none", got {join!r}')
    depth = 1
    if level is not None:
        text = str(level)
        if not text.isdigit() or int(text) < 1:
            raise BadRequestData(f"joinLevel must be a positive integer, got {level!r}")
        depth = int(text)
    seen: frozenset[str] = frozenset()
    if contained_by is not None:
        items = contained_by if isinstance(contained_by, list) else str(contained_by).split(",")
        ids = [str(i).strip() for i in items if str(i).strip()]
        if not ids or not all(is_uri(i) for i in ids):
            raise BadRequestData(
                f"containedBy must be a non-empty list of URIs, got {contained_by!r}"
            )
        seen = frozenset(ids)
    return Join(str(join), depth, seen)


def targets(inst: dict[str, Any]) -> list[str]:
    """The URIs a Relationship or ListRelationship instance points at, in order."""
    kind = inst.get("type")
    if kind == "Relationship":
        obj = inst.get("object")
        items = obj if isinstance(obj, list) else [obj]
    elif kind == "ListRelationship":
        items = [i.get("object") if isinstance(i, dict) else i for i in inst.get("objectList", ())]
    else:
        return []
    return [i for i in items if isinstance(i, str)]


def _links(
    entity: Entity, opts: RenderOptions
) -> Iterable[tuple[str, int, dict[str, Any], RenderOptions]]:
    """``(attribute, index, instance, options of its targets)`` for every returned
    Relationship or ListRelationship instance of ``entity``, attributes in IRI order (the
    order a flat join appends in, the same on both backends)."""
    for iri, instances in sorted(entity["attrs"].items()):
        if not opts.shows(iri):
            continue
        linked_opts = opts.for_link(iri)
        for n, inst in enumerate(instances):
            if inst.get("type") not in ("Relationship", "ListRelationship"):
                continue
            if opts.datasets is not None and inst.get("datasetId", "@none") not in opts.datasets:
                continue
            yield iri, n, inst, linked_opts


async def flat(
    entities: list[Entity], opts: RenderOptions, join: Join, fetch: Fetch
) -> list[tuple[Entity, RenderOptions]]:
    """The Linked Entities to append after ``entities`` (clause 4.5.23.3), each once, with
    the options each is rendered with."""
    seen = {e["id"] for e in entities} | join.contained_by
    out: list[tuple[Entity, RenderOptions]] = []
    frontier = [(e, opts) for e in entities]
    for _ in range(join.level):
        wanted: dict[str, RenderOptions] = {}
        for entity, entity_opts in frontier:
            for _, _, inst, linked_opts in _links(entity, entity_opts):
                for uri in targets(inst):
                    if uri not in seen and uri not in wanted:
                        wanted[uri] = linked_opts
        if not wanted:
            break
        found = await fetch(list(wanted))
        seen.update(wanted)
        frontier = [(found[uri], o) for uri, o in wanted.items() if uri in found]
        out += frontier
    return out


async def inline(
    entities: list[Entity], opts: RenderOptions, join: Join, fetch: Fetch
) -> list[Entity]:
    """Copies of ``entities`` whose returned Relationships carry their Linked Entities under
    ``render.LINKED`` (clause 4.5.23.2): the entity, or for an array of targets a list
    holding the entity or, where there is none to show, the URI. The renderer shows them
    as ``entity`` or ``entityList``. The stored entities are not changed."""
    cache: dict[str, Entity | None] = {}
    roots = [_copy(e) for e in entities]
    # Entities whose links are followed at the next hop: (entity, options, path so far).
    frontier = [(e, opts, join.contained_by | {e["id"]}) for e in roots]
    for _ in range(join.level):
        wanted = [
            uri
            for entity, entity_opts, path in frontier
            for _, _, inst, _ in _links(entity, entity_opts)
            for uri in targets(inst)
            if uri not in path and uri not in cache
        ]
        if wanted:
            wanted = list(dict.fromkeys(wanted))
            found = await fetch(wanted)
            cache.update({uri: found.get(uri) for uri in wanted})
        following = []
        for entity, entity_opts, path in frontier:
            for iri, n, inst, linked_opts in list(_links(entity, entity_opts)):
                # One item per target, in order: a copy of the Linked Entity, or the URI
                # where there is none to show (not stored here, or already encountered).
                items: list[Entity | str] = []
                for uri in targets(inst):
                    target = cache.get(uri) if uri not in path else None
                    items.append(_copy(target) if target is not None else uri)
                linked = [i for i in items if isinstance(i, dict)]
                if not linked:
                    continue
                single = inst["type"] == "Relationship" and not isinstance(inst.get("object"), list)
                entity["attrs"][iri][n] = {**inst, LINKED: linked[0] if single else items}
                following += [(t, linked_opts, path | {t["id"]}) for t in linked]
        frontier = following
        if not frontier:
            break
    return roots


def _copy(entity: Entity) -> Entity:
    """A copy whose attribute lists can take new instances without touching ``entity``."""
    return {**entity, "attrs": {k: list(v) for k, v in entity["attrs"].items()}}


def projection_depth(nested: Any) -> int:
    """How many Relationship hops a nested projection reaches (``a{b{c}}`` is 2)."""
    if nested is None:
        return 0
    return 1 + max((projection_depth(n) for n in nested.attrs.values()), default=0)
