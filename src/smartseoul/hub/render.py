"""Rendering stored entities as normalized, concise or simplified output (pure).

Clauses 4.5.1 to 4.5.4 (representations), 4.5.16/4.5.17 (GeoJSON), 4.15 (lang filter),
4.21 (projection). Names are compacted with the requester's context.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.entities import LOCATION, NGSI_NULL, SYSTEM_MEMBERS, VALUE_KEY

Compact = Callable[[str], str]
VALUE_KEYS = frozenset(VALUE_KEY.values())
# Where hub.linked puts the Linked Entities of a Relationship for inline join (4.5.23.2);
# rendered as "entity" (Relationship) or "entityList" (ListRelationship).
LINKED = "@linked"


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: ``format`` is normalized, concise or simplified (keyValues)."""

    format: str = "normalized"
    sys_attrs: bool = False
    attrs: Collection[str] | None = None  # expanded names to keep (attrs / pick)
    omit: Collection[str] | None = None  # expanded names to drop
    lang: str | None = None
    keep_id: bool = True
    keep_type: bool = True
    keep_scope: bool = True
    datasets: Collection[str] | None = None  # datasetIds to keep, "@none" the default (4.5.5)
    # Linked Entity retrieval (4.5.23): how the targets of a Relationship (by IRI) render
    # when its projection was nested (pick=rel{a,b}); others render as this entity does.
    linked: Mapping[str, RenderOptions] | None = None

    def shows(self, iri: str) -> bool:
        """Whether the attribute ``iri`` is returned (attrs / pick / omit)."""
        return (self.attrs is None or iri in self.attrs) and (
            self.omit is None or iri not in self.omit
        )

    def for_link(self, iri: str) -> RenderOptions:
        """The options the Linked Entities of Relationship ``iri`` render with."""
        return self.linked.get(iri, self) if self.linked else self


def render_entity(entity: dict[str, Any], compact: Compact, opts: RenderOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if opts.keep_id:
        out["id"] = entity["id"]
    if opts.keep_type:
        types = [compact_type(t, compact) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in entity and opts.keep_scope:
        scopes = entity["scope"]
        out["scope"] = scopes[0] if len(scopes) == 1 else scopes
    if "expiresAt" in entity:  # clause 4.22: a system attribute the writer set
        out["expiresAt"] = entity["expiresAt"]
    if opts.sys_attrs and opts.format != "simplified":
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity["modifiedAt"]
    keep, omit, datasets = opts.attrs, opts.omit, opts.datasets
    for iri, instances in entity["attrs"].items():
        if keep is not None and iri not in keep:
            continue
        if omit is not None and iri in omit:
            continue
        if datasets is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in datasets]
            if not instances:
                continue
        out[compact(iri)] = render_attribute(instances, compact, opts, opts.for_link(iri))
    return out


def compact_type(iri: str, compact: Compact) -> str:
    return compact(iri)


def render_attribute(
    instances: list[dict[str, Any]],
    compact: Compact,
    opts: RenderOptions,
    linked_opts: RenderOptions | None = None,
) -> Any:
    linked_opts = linked_opts or opts
    if opts.format == "simplified":
        if len(instances) == 1 and "datasetId" not in instances[0]:
            return _simplified(instances[0], compact, opts, linked_opts)
        return {
            "dataset": {
                inst.get("datasetId", "@none"): _simplified(inst, compact, opts, linked_opts)
                for inst in instances
            }
        }
    rendered = [render_instance(inst, compact, opts, linked_opts) for inst in instances]
    return rendered[0] if len(rendered) == 1 else rendered


def _simplified(
    inst: dict[str, Any], compact: Compact, opts: RenderOptions, linked_opts: RenderOptions
) -> Any:
    linked = inst.get(LINKED)
    if linked is None:
        return simplified_value(inst, compact, opts.lang)
    # Annex C.2.2: the Linked Entity stands in place of its URI; in a list, a target with
    # no entity to show keeps its URI so that the order of the objects is not lost.
    if isinstance(linked, list):
        return [
            render_entity(e, compact, linked_opts) if isinstance(e, dict) else e for e in linked
        ]
    return render_entity(linked, compact, linked_opts)


def _render_linked(linked: Any, compact: Compact, opts: RenderOptions) -> Any:
    """The ``entity`` / ``entityList`` member: the Linked Entities there are, in order."""
    if isinstance(linked, list):
        return [render_entity(e, compact, opts) for e in linked if isinstance(e, dict)]
    return render_entity(linked, compact, opts)


def simplified_value(inst: dict[str, Any], compact: Compact, lang: str | None) -> Any:
    """Clause 4.5.4: the value alone, keeping a marker member where the type is not implied."""
    kind = inst["type"]
    if kind in ("Property", "GeoProperty", "Relationship"):
        return inst[VALUE_KEY[kind]]
    if kind == "LanguageProperty":
        if lang is not None:
            return pick_language(inst["languageMap"], lang)[0]
        return {"languageMap": inst["languageMap"]}
    if kind == "VocabProperty":
        return {"vocab": _compact_vocab(inst["vocab"], compact)}
    if kind == "ListRelationship":  # an ordered array of object URIs (clause 4.5.4)
        return [item["object"] for item in inst["objectList"]]
    if kind == "ListProperty":  # an ordered array of the values (clause 4.5.4)
        return inst["valueList"]
    return {VALUE_KEY[kind]: inst[VALUE_KEY[kind]]}


def _compact_vocab(value: Any, compact: Compact) -> Any:
    if isinstance(value, list):
        return [compact(v) for v in value]
    return compact(value)


def render_instance(
    inst: dict[str, Any],
    compact: Compact,
    opts: RenderOptions,
    linked_opts: RenderOptions | None = None,
) -> Any:
    kind = inst["type"]
    key = VALUE_KEY[kind]
    concise = opts.format == "concise"
    out: dict[str, Any] = {}
    if not concise:
        out["type"] = kind
    if kind == "LanguageProperty" and opts.lang is not None:
        # Clause 5.7.1.5: converted into a Property with a non-reified "lang".
        text, tag = pick_language(inst["languageMap"], opts.lang)
        if not concise:
            out["type"] = "Property"
        out["value"] = text
        out["lang"] = tag
    elif kind == "VocabProperty":
        out["vocab"] = _compact_vocab(inst["vocab"], compact)
    elif kind == "GeoProperty" and concise:
        out["value"] = inst["value"]
    else:
        out[key] = inst[key]
    for member, item in inst.items():
        if member in ("type", key) or member == "lang" and "lang" in out:
            continue
        if member in SYSTEM_MEMBERS:
            if opts.sys_attrs and member in ("createdAt", "modifiedAt"):
                out[member] = item
            continue
        if member in ("observedAt", "unitCode", "datasetId", "expiresAt", "lang"):
            out[member] = item
        elif member == LINKED:  # clause 4.5.23.2: the Linked Entities, inline
            name = "entityList" if kind == "ListRelationship" else "entity"
            out[name] = _render_linked(item, compact, linked_opts or opts)
        elif member in ("objectType", "valueType"):
            out[member] = _compact_vocab(item, compact)
        elif isinstance(item, dict) and "type" in item:
            out[compact(member)] = render_instance(item, compact, opts)
    if concise and len(out) == 1 and kind in ("Property", "GeoProperty") and "value" in out:
        value = out["value"]
        # A bare JSON object with a "type" or a value member would read back as another
        # attribute (clause 4.5.2.3): keep {"value": ...} for those.
        if kind == "GeoProperty" or not (
            isinstance(value, dict) and ("type" in value or any(k in value for k in VALUE_KEYS))
        ):
            return value
    return out


def pick_language(language_map: dict[str, Any], wanted: str) -> tuple[Any, str]:
    """Clause 4.15: the best match for ``lang`` (``*`` any, else first entry, ``@none`` kept)."""
    for tag in (t.strip().split(";")[0] for t in wanted.split(",")):
        if tag == "*":
            break
        if tag in language_map:
            return language_map[tag], tag
        for key in language_map:
            if key.split("-")[0] == tag.split("-")[0]:
                return language_map[key], key
    if "@none" in language_map:
        return language_map["@none"], "@none"
    first = next(iter(language_map), "@none")
    return language_map.get(first), first


def geojson_feature(
    entity: dict[str, Any], compact: Compact, opts: RenderOptions, geoproperty: str = LOCATION
) -> dict[str, Any]:
    """Clause 4.5.16.2: an entity as a GeoJSON Feature."""
    props = render_entity(
        entity,
        compact,
        RenderOptions(
            format=opts.format,
            sys_attrs=opts.sys_attrs,
            attrs=opts.attrs,
            omit=opts.omit,
            lang=opts.lang,
            keep_id=False,
            keep_type=opts.keep_type,
            keep_scope=opts.keep_scope,
            datasets=opts.datasets,
        ),
    )
    # Clause 4.5.16.1: the default instance, or the one of a requested datasetId.
    geometry = None
    for inst in entity["attrs"].get(geoproperty, ()):
        if (
            inst.get("type") == "GeoProperty"
            and inst.get("value") != NGSI_NULL
            and inst.get("datasetId", "@none") in (opts.datasets or ("@none",))
        ):
            geometry = inst["value"]
            break
    return {"id": entity["id"], "type": "Feature", "geometry": geometry, "properties": props}
