"""HTTP routes for /entities, /entityOperations (clauses 6.4 to 6.7, 6.14 to 6.17, 6.23)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import (
    GEO_JSON,
    Call,
    add_page_links,
    flag_options,
    int_param,
    no_content,
    offset_param,
    plain_json,
    read_call,
    respond,
)
from smartseoul.hub.broker import BatchResult, UpdateResult
from smartseoul.hub.entities import check_entity_id, is_uri, parse_time
from smartseoul.hub.errors import (
    BadRequestData,
    OperationNotSupported,
    ResourceNotFound,
    TooManyResults,
)
from smartseoul.hub.linked import Join, parse_join
from smartseoul.hub.render import RenderOptions, geojson_feature, render_entity
from smartseoul.hub.selection import Projection
from smartseoul.hub.store.base import EntityQuery
from smartseoul.hub.versions import Version, applied_header, downgrade, ok_status, preferred

Getter = Callable[[str], Any]

# The options each operation supports; others are an InvalidRequest (clause 6.3.20).
QUERY_OPTIONS = frozenset({"keyValues", "simplified", "concise", "normalized", "sysAttrs"})
APPEND_OPTIONS = frozenset({"noOverwrite"})
UPSERT_OPTIONS = frozenset({"replace", "update"})
MERGE_OPTIONS = frozenset({"keyValues", "simplified"})
ENTITY_MEMBERS = frozenset({"id", "type", "scope"})


def broker(request: Request) -> Any:
    return request.app.state.broker


def render_options(
    call: Call, get: Getter, opts: set[str], join: Join | None = None
) -> RenderOptions:
    """format / options / attrs / pick / omit / lang / datasetId (clauses 4.21, 6.3.7, 6.3.11).

    ``get`` reads the parameters (the URL's, or those of a Query body, clause 5.2.23).
    A nested projection (``pick=rel{a}``) needs ``join`` at least as deep (clause 5.7.1.4).
    """
    fmt = get("format")
    if fmt is None:
        if opts & {"keyValues", "simplified"}:
            fmt = "simplified"
        else:
            fmt = "concise" if "concise" in opts else "normalized"
    elif fmt == "keyValues":
        fmt = "simplified"
    if fmt not in ("normalized", "concise", "simplified"):
        raise BadRequestData(f"Unknown format {fmt!r} (clause 6.3.7)")
    attrs_text, pick_text, omit_text = get("attrs"), get("pick"), get("omit")
    if attrs_text is not None and pick_text is not None:
        raise BadRequestData("attrs and pick cannot be used together")
    keep: set[str] | None = None
    keep_id = keep_type = keep_scope = True
    if attrs_text is not None:
        # attrs (deprecated): attribute names only; id, type and scope are always returned.
        keep = {call.expand(a) for a in _split(attrs_text) if a not in ENTITY_MEMBERS}
    picked = omitted = None
    if pick_text is not None:
        picked = _projection(pick_text, call, join)
        keep = set(picked.attrs)
        members = picked.members
        keep_id, keep_type, keep_scope = ("id" in members, "type" in members, "scope" in members)
    omit: set[str] | None = None
    if omit_text is not None:
        omitted = _projection(omit_text, call, join)
        # A nested term (omit=rel{a}) keeps rel and omits a from its Linked Entities.
        omit = {iri for iri, nested in omitted.attrs.items() if nested is None}
        keep_id = keep_id and "id" not in omitted.members
        keep_type = keep_type and "type" not in omitted.members
        keep_scope = keep_scope and "scope" not in omitted.members
    base = RenderOptions(
        format=fmt,
        sys_attrs="sysAttrs" in opts,
        attrs=keep,
        omit=omit or None,
        lang=get("lang"),
        keep_id=keep_id,
        keep_type=keep_type,
        keep_scope=keep_scope,
        datasets=_datasets(get("datasetId")),
    )
    return _with_links(base, picked, omitted)


def _with_links(
    opts: RenderOptions, picked: Projection | None, omitted: Projection | None
) -> RenderOptions:
    """``opts`` with the options of the Linked Entities a nested pick / omit names."""
    linked: dict[str, RenderOptions] = {}
    for iri, nested in picked.attrs.items() if picked else ():
        if nested is not None:
            named = nested.members
            linked[iri] = _with_links(
                replace(
                    opts,
                    attrs=set(nested.attrs),
                    keep_id=not named or "id" in named,
                    keep_type=not named or "type" in named,
                    keep_scope=not named or "scope" in named,
                    linked=None,
                ),
                nested,
                None,
            )
    for iri, nested in omitted.attrs.items() if omitted else ():
        if nested is not None:
            inner = linked.get(iri, replace(opts, linked=None))
            linked[iri] = _with_links(
                replace(
                    inner,
                    omit={a for a, n in nested.attrs.items() if n is None} or None,
                    keep_id=inner.keep_id and "id" not in nested.members,
                    keep_type=inner.keep_type and "type" not in nested.members,
                    keep_scope=inner.keep_scope and "scope" not in nested.members,
                ),
                None,
                nested,
            )
    return replace(opts, linked=linked) if linked else opts


def _projection(value: Any, call: Call, join: Join | None) -> Projection:
    """A pick / omit list (clause 4.21); a nested term needs a deep enough ``join``."""
    from smartseoul.hub.linked import projection_depth
    from smartseoul.hub.selection import parse_projection

    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    projection = parse_projection(text, call.expand)
    depth = max((projection_depth(n) for n in projection.attrs.values()), default=0)
    if depth and join is None:
        # Clauses 5.7.1.4 / 5.7.2.4.
        raise BadRequestData(f"Projection {text!r} needs Linked Entity retrieval (join)")
    if join is not None and depth > join.level:
        raise BadRequestData(
            f"Projection {text!r} reaches {depth} Linked Entity levels, over joinLevel "
            f"{join.level} (clause 5.7.1.4)"
        )
    return projection


def join_of(get: Getter) -> Join | None:
    """Linked Entity retrieval asked for by join / joinLevel / containedBy (4.5.23)."""
    return parse_join(get("join"), get("joinLevel"), get("containedBy"))


def _datasets(value: Any) -> set[str] | None:
    """The datasetId parameter: URIs, or "@none" for the default instance (clause 4.5.5)."""
    if value is None:
        return None
    ids = set(_split(value))
    bad = [d for d in ids if d != "@none" and not is_uri(d)]
    if bad or not ids:
        raise BadRequestData(f"datasetId must be URIs or @none, got {value!r}")
    return ids


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _bool(get: Getter, name: str) -> bool:
    value = get(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {value!r}")
    return value == "true"


def build_query(
    call: Call, get: Getter, settings: Any, *, require_filter: bool = True, linked: bool = False
) -> EntityQuery:
    """The query parameters of clause 6.4.3.2 / 5.7.2 as an EntityQuery; ``linked`` where
    ``q`` may filter on Linked Entities (an entity query with ``join``)."""
    from smartseoul.hub.geo import parse_geoquery
    from smartseoul.hub.ordering import parse_ordering
    from smartseoul.hub.query import linked_depth, parse_q
    from smartseoul.hub.selection import ANY_TYPE, parse_scope_q, parse_type_expr

    query = EntityQuery()
    if (value := get("id")) is not None:
        ids = _split(value)
        for i in ids:
            check_entity_id(i)
        query.ids = ids
    query.id_pattern = get("idPattern")
    if query.id_pattern is not None:
        try:
            re.compile(query.id_pattern)
        except re.error as exc:
            raise BadRequestData(f"idPattern is not a valid regular expression: {exc}") from None
    local = _bool(get, "local")
    if (value := get("type")) is not None:
        query.types = parse_type_expr(value, call.expand)
        if query.types is ANY_TYPE:
            local = True  # type=* implies local scope (clause 6.4.3.2)
    if get("q") is not None:
        join = join_of(get) if linked else None
        try:
            query.q = parse_q(
                get("q"),
                call.expand,
                expand_values=_split(get("expandValues")),
                linked=join is not None,
            )
        except OperationNotSupported:
            # Clauses 5.7.2.4 / 5.7.4.4: a filter on linked entities needs join, and only
            # entity queries have it.
            raise BadRequestData(
                "q: a linked entity path (attr{...}) needs Linked Entity retrieval (join), "
                "which only entity queries have"
            ) from None
        if join is not None and linked_depth(query.q) > join.level:
            raise BadRequestData(
                f"q follows {linked_depth(query.q)} Linked Entity levels, over joinLevel "
                f"{join.level} (clause 5.7.2.4)"
            )
    georel = get("georel")
    if georel is not None or get("geometry") is not None or get("coordinates") is not None:
        query.geo = parse_geoquery(
            georel, get("geometry"), get("coordinates"), get("geoproperty"), call.expand
        )
    if (value := get("scopeQ")) is not None:
        query.scope_q = parse_scope_q(value)
    if (attrs := get("attrs")) is not None:
        query.attrs = [call.expand(a) for a in _split(attrs) if a not in ENTITY_MEMBERS] or None
    query.ordering = parse_ordering(
        get("orderBy"), get("collation"), get("orderFrom"), get("orderGeometry"), call.expand
    )
    if query.ordering is not None and not local:
        # Clause 5.7.2.4: ordering only where the query is limited to the local scope.
        raise BadRequestData("orderBy needs local=true: ordering applies to local queries "
                             "only (clause 5.7.2.4)")  # fmt: skip
    # Clause 5.7.2.4 (and 5.7.4.4, 5.6.21.4): type, attrs, q, a geoquery or local scope;
    # ids, idPattern or scopeQ alone are "too wide".
    if require_filter and not (query.types or query.attrs or query.q or query.geo or local):
        raise BadRequestData(
            "A query needs at least one of type, attrs, q, a geoquery or local=true "
            "(clause 5.7.2.4)"
        )
    return query


def apply_paging(
    query: EntityQuery, limit: int | None, offset: int | None, count: bool, settings: Any
) -> None:
    limit = settings.default_limit if limit is None else limit
    if limit > settings.max_limit:
        raise TooManyResults(f"limit {limit} is over the maximum of {settings.max_limit}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true (clause 6.3.13)")
    query.limit, query.offset, query.count = limit, offset or 0, count


def render_many(
    call: Call,
    entities: list[dict[str, Any]],
    opts: RenderOptions,
    geoproperty: str | None,
    linked: Sequence[tuple[dict[str, Any], RenderOptions]] = (),
) -> Any:
    """Entities as an array (or a FeatureCollection), then the Linked Entities of a flat
    join (clause 4.5.23.3) with their own options."""
    items = [(e, opts) for e in entities] + list(linked)
    if call.accept == GEO_JSON:
        geo = call.expand(geoproperty) if geoproperty else "https://uri.etsi.org/ngsi-ld/location"
        return {
            "type": "FeatureCollection",
            "features": [geojson_feature(e, call.compact, o, geo) for e, o in items],
        }
    return [render_entity(e, call.compact, o) for e, o in items]


async def _join(
    request: Request,
    call: Call,
    entities: list[dict[str, Any]],
    opts: RenderOptions,
    join: Join | None,
    version: Version | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], RenderOptions]]]:
    """Linked Entity retrieval (clause 4.5.23): the entities to render, with their Linked
    Entities inline, and those a flat join appends; all as a client of ``version`` reads
    them (clause 4.3.6.8)."""
    if version is not None:
        entities = [downgrade(e, version, call.compact) for e in entities]
    if join is None or not entities:
        return entities, []
    from smartseoul.hub import linked

    async def fetch(ids: list[str]) -> dict[str, dict[str, Any]]:
        found = await broker(request).store.get_entities(call.tenant, ids)
        if version is None:
            return found
        return {k: downgrade(e, version, call.compact) for k, e in found.items()}

    if join.mode == "inline":
        return await linked.inline(entities, opts, join, fetch), []
    return entities, await linked.flat(entities, opts, join, fetch)


def _geometry_property(call: Call, get: Getter) -> str | None:
    value = get("geometryProperty")
    if value is not None and call.accept != GEO_JSON:
        # Clauses 5.7.1.4 and 5.7.2.4.
        raise BadRequestData("geometryProperty needs Accept: application/geo+json")
    return value


async def _run_query(
    request: Request,
    call: Call,
    query: EntityQuery,
    opts: RenderOptions,
    geometry: str | None,
    join: Join | None,
) -> Response:
    """Run a query page and answer with NGSILD-Results-Count and prev/next links."""
    settings = request.app.state.settings
    version = preferred(request.headers.get("prefer"))
    apply_paging(
        query,
        int_param(request, "limit", None),
        offset_param(request),
        _bool(request.query_params.get, "count"),
        settings,
    )
    limit, offset = query.limit, query.offset
    if limit:
        query.limit = limit + 1  # one more tells whether a next page exists
    entities, total = await broker(request).query_entities(call.tenant, query)
    more = len(entities) > limit
    del entities[limit:]
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    if version is not None:  # clause 6.3.6
        headers.update(applied_header(version))
    entities, appended = await _join(request, call, entities, opts, join, version)
    body = render_many(call, entities, opts, geometry, appended)
    response = respond(call, body, status=ok_status(version), headers=headers)
    add_page_links(response, request, call, limit=limit, offset=offset, more=more)
    return response


async def query_entities(request: Request) -> Response:
    """Query entities (clause 5.7.2, 6.4.3.2)."""
    call = await read_call(request, geo=True)
    get = request.query_params.get
    join = join_of(get)
    opts = render_options(call, get, flag_options(request, QUERY_OPTIONS), join)
    geometry = _geometry_property(call, get)
    query = build_query(call, get, request.app.state.settings, linked=True)
    return await _run_query(request, call, query, opts, geometry, join)


async def post_query(request: Request) -> Response:
    """Query entities via POST (clause 6.23): a Query data type in the body (5.2.23)."""
    call = await read_call(request, geo=True, body=True)
    if call.context_source is not None and not isinstance(call.context_source, str):
        # An inline @context: point the response Link at a copy this broker serves (5.13).
        call.context_source = await request.app.state.resolver.context_url(call.context)
    body = call.body
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('The body must be a Query object with "type": "Query" (5.2.23)')
    flat: dict[str, Any] = dict(request.query_params)
    selectors = body.get("entities")
    for key in ("attrs", "pick", "omit"):
        if key in body:
            if not isinstance(body[key], list) or not body[key]:
                raise BadRequestData(f"{key} must be a non-empty array (clause 5.2.23)")
            flat[key] = ",".join(str(a) for a in body[key])
    check_strings(body, ("q", "scopeQ", "lang", "join"))
    for key in (
        "q", "scopeQ", "lang", "datasetId", "local", "expandValues", "join", "joinLevel",
        "containedBy",
    ):
        if key in body:
            flat[key] = body[key]
    if "ordering" in body:  # OrderingParams (clause 5.2.43)
        ordering = body["ordering"]
        if not isinstance(ordering, dict) or "orderBy" not in ordering:
            raise BadRequestData("ordering must be an OrderingParams object with orderBy (5.2.43)")
        flat["orderBy"] = ordering["orderBy"]
        for member, param in (("collation", "collation"), ("coordinates", "orderFrom"),
                              ("geometry", "orderGeometry")):  # fmt: skip
            if member in ordering:
                flat[param] = ordering[member]
    if "geoQ" in body:
        geo = body["geoQ"]
        if not isinstance(geo, dict):
            raise BadRequestData("geoQ must be a GeoQuery object (clause 5.2.13)")
        check_strings(geo, GEO_STRINGS, "geoQ.")
        flat["georel"] = geo.get("georel")
        flat["geometry"] = geo.get("geometry")
        flat["coordinates"] = geo.get("coordinates")
        flat["geoproperty"] = geo.get("geoproperty")
    join = join_of(flat.get)
    opts = render_options(call, flat.get, flag_options(request, QUERY_OPTIONS), join)
    geometry = _geometry_property(call, flat.get)
    settings = request.app.state.settings
    if selectors is not None:
        flat = await selector_params(request, call, selectors, flat)
    query = build_query(call, flat.get, settings, linked=True)
    return await _run_query(request, call, query, opts, geometry, join)


GEO_STRINGS = ("georel", "geometry", "geoproperty")  # GeoQuery members (clause 5.2.13)


def check_strings(body: dict[str, Any], names: Sequence[str], prefix: str = "") -> None:
    """The members of a Query body (clause 5.2.23) that the spec types as String."""
    for name in names:
        if name in body and not isinstance(body[name], str):
            raise BadRequestData(f"{prefix}{name} must be a string, got {body[name]!r}")


async def selector_params(
    request: Request,
    call: Call,
    selectors: Any,
    flat: dict[str, Any],
    resolve: Callable[[str, EntityQuery], Awaitable[list[str]]] | None = None,
) -> dict[str, Any]:
    """The EntitySelectors of a Query body (clause 5.2.23) added to query parameters.

    ``resolve`` gives the ids one selector matches (default: the entities')."""
    flat = {**flat, **_selectors(selectors)}
    if len(selectors) > 1 and any("id" in sel or "idPattern" in sel for sel in selectors):
        # Selectors are OR-ed (clause 5.2.23); with ids or patterns that is no single
        # filter, so the union of ids is resolved first (rare: one query per selector).
        settings = request.app.state.settings
        resolve = resolve or broker(request).matching_ids
        found: dict[str, None] = {}
        flat = {k: v for k, v in flat.items() if k not in ("type", "id", "idPattern")}
        for sel in selectors:
            one = build_query(call, {**flat, **_selectors([sel])}.get, settings, linked=True)
            found.update(dict.fromkeys(await resolve(call.tenant, one)))
        flat.update(id=list(found), local="true")
        if not found:
            flat["idPattern"] = "(?!)"  # matches nothing
            del flat["id"]
    return flat


def _selectors(selectors: Any) -> dict[str, Any]:
    """EntitySelectors (clause 5.2.33) as query parameters: types OR-ed, ids, idPattern."""
    if not isinstance(selectors, list) or not selectors:
        raise BadRequestData("entities must be a non-empty array of EntitySelectors (5.2.23)")
    types: list[str] = []
    out: dict[str, Any] = {}
    for sel in selectors:
        if not isinstance(sel, dict) or not isinstance(sel.get("type"), str):
            raise BadRequestData("Each EntitySelector needs a type string (clause 5.2.33)")
        types.append(sel["type"])
        if "id" in sel:  # id takes precedence over idPattern (5.2.33)
            out["id"] = sel["id"] if isinstance(sel["id"], list) else [sel["id"]]
        elif "idPattern" in sel:
            out["idPattern"] = str(sel["idPattern"])
    out["type"] = types[0] if len(types) == 1 else "|".join(f"({t})" for t in dict.fromkeys(types))
    return out


async def create_entity(request: Request) -> Response:
    """Create entity (clause 5.6.1): 201 with Location."""
    call = await read_call(request)
    entity_id = await broker(request).create_entity(
        call.tenant, _strip_context(call.body), call.expand
    )
    return no_content(
        call, status=201, headers={"Location": f"/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}"}
    )


def _strip_context(body: Any) -> Any:
    if isinstance(body, dict) and "@context" in body:
        return {k: v for k, v in body.items() if k != "@context"}
    return body


async def _check_type(request: Request, call: Call, entity_id: str) -> None:
    """The optional ``type`` selector of the entity operations (clause 4.17): 404 unless met."""
    value = request.query_params.get("type")
    if value is None:
        return
    from smartseoul.hub.selection import matches_types, parse_type_expr

    selector = parse_type_expr(value, call.expand)
    entity = await broker(request).retrieve_entity(call.tenant, entity_id)
    if not matches_types(entity["type"], selector):
        raise ResourceNotFound(
            f"Entity {entity_id} of type {value} was not found", instance=entity_id
        )


async def retrieve_entity(request: Request) -> Response:
    """Retrieve entity (clause 5.7.1, 6.5.3.1)."""
    call = await read_call(request, geo=True)
    get = request.query_params.get
    entity_id = request.path_params["entity_id"]
    join = join_of(get)
    opts = render_options(call, get, flag_options(request, QUERY_OPTIONS), join)
    geometry = _geometry_property(call, get)
    entity = await broker(request).retrieve_entity(call.tenant, entity_id)
    if (value := get("type")) is not None:
        from smartseoul.hub.selection import matches_types, parse_type_expr

        if not matches_types(entity["type"], parse_type_expr(value, call.expand)):
            raise ResourceNotFound(
                f"Entity {entity_id} of type {value} was not found", instance=entity_id
            )
    if (
        get("attrs") is not None
        and opts.attrs
        and not any(a in entity["attrs"] for a in opts.attrs)
    ):
        # Clause 5.7.1.4: an entity with none of the listed attributes is not found.
        raise ResourceNotFound(
            f"Entity {entity_id} has none of the attributes {get('attrs')}", instance=entity_id
        )
    version = preferred(request.headers.get("prefer"))
    headers = applied_header(version) if version is not None else None  # clause 6.3.6
    (entity,), appended = await _join(request, call, [entity], opts, join, version)
    if join is not None and join.mode == "flat":
        # Clause 5.7.1.5: an array of the entity and its Linked Entities (a
        # FeatureCollection for GeoJSON).
        payload = render_many(call, [entity], opts, geometry, appended)
        return respond(call, payload, status=ok_status(version), headers=headers)
    if call.accept == GEO_JSON:
        geo = call.expand(geometry) if geometry else "https://uri.etsi.org/ngsi-ld/location"
        feature = geojson_feature(entity, call.compact, opts, geo)
        return respond(call, feature, status=ok_status(version), headers=headers)
    body = render_entity(entity, call.compact, opts)
    return respond(call, body, status=ok_status(version), headers=headers)


async def delete_entity(request: Request) -> Response:
    """Delete entity (clause 5.6.6, 6.5.3.2)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    await _check_type(request, call, entity_id)
    await broker(request).delete_entity(call.tenant, entity_id)
    return no_content(call)


async def replace_entity(request: Request) -> Response:
    """Replace entity (clause 5.6.18, 6.5.3.3)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    await _check_type(request, call, entity_id)
    await broker(request).replace_entity(
        call.tenant, entity_id, _strip_context(call.body), call.expand
    )
    return no_content(call)


async def merge_entity(request: Request) -> Response:
    """Merge entity (clause 5.6.17, 6.5.3.4) with format / observedAt / lang."""
    call = await read_call(request)
    get = request.query_params.get
    entity_id = request.path_params["entity_id"]
    opts = flag_options(request, MERGE_OPTIONS)
    fmt = get("format")  # format takes precedence over options (table 6.5.3.4-1)
    if fmt is not None and fmt not in ("simplified", "keyValues", "normalized", "concise"):
        raise BadRequestData(f"Unknown format {fmt!r}")
    simplified = fmt in ("simplified", "keyValues") if fmt is not None else bool(opts)
    observed_at = get("observedAt")
    if observed_at is not None:
        parse_time(observed_at, field="observedAt")
    await _check_type(request, call, entity_id)
    await broker(request).merge_entity(
        call.tenant,
        entity_id,
        _strip_context(call.body),
        call.expand,
        simplified=simplified,
        observed_at=observed_at,
        lang=get("lang"),
    )
    return no_content(call)


def update_result_response(call: Call, result: UpdateResult) -> Response:
    """204, or 207 with an UpdateResult (clauses 5.2.18, 6.6.3).

    Clause 6.3.6: partial success bodies carry Fully Qualified Names only (no @context).
    """
    if not result.not_updated:
        return no_content(call)
    return plain_json(
        {
            "updated": result.updated,
            "notUpdated": [{"attributeName": n, "reason": r} for n, r in result.not_updated],
        },
        status=207,
        call=call,
    )


async def append_attrs(request: Request) -> Response:
    """Append attributes (clause 5.6.3, 6.6.3.1)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    overwrite = "noOverwrite" not in flag_options(request, APPEND_OPTIONS)
    await _check_type(request, call, entity_id)
    result = await broker(request).append_attrs(
        call.tenant, entity_id, _strip_context(call.body), call.expand, overwrite=overwrite
    )
    return update_result_response(call, result)


async def update_attrs(request: Request) -> Response:
    """Update attributes (clause 5.6.2, 6.6.3.2)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    await _check_type(request, call, entity_id)
    result = await broker(request).update_attrs(
        call.tenant, entity_id, _strip_context(call.body), call.expand
    )
    return update_result_response(call, result)


async def partial_update_attr(request: Request) -> Response:
    """Partial attribute update (clause 5.6.4, 6.7.3.1)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    await _check_type(request, call, entity_id)
    await broker(request).partial_update_attr(
        call.tenant,
        entity_id,
        request.path_params["attr"],
        _strip_context(call.body),
        call.expand,
    )
    return no_content(call)


async def replace_attr(request: Request) -> Response:
    """Replace attribute (clause 5.6.19, 6.7.3.3)."""
    call = await read_call(request)
    entity_id = request.path_params["entity_id"]
    await _check_type(request, call, entity_id)
    await broker(request).replace_attr(
        call.tenant,
        entity_id,
        request.path_params["attr"],
        _strip_context(call.body),
        call.expand,
    )
    return no_content(call)


async def delete_attr(request: Request) -> Response:
    """Delete attribute (clause 5.6.5, 6.7.3.2)."""
    call = await read_call(request)
    get = request.query_params.get
    entity_id = request.path_params["entity_id"]
    dataset_id = get("datasetId")
    if dataset_id is not None and dataset_id != "@none" and not is_uri(dataset_id):
        raise BadRequestData(f"datasetId must be a URI, got {dataset_id!r}")
    await _check_type(request, call, entity_id)
    await broker(request).delete_attr(
        call.tenant,
        entity_id,
        request.path_params["attr"],
        call.expand,
        dataset_id=None if dataset_id == "@none" else dataset_id,
        delete_all=_bool(get, "deleteAll"),
    )
    return no_content(call)


# -- batch operations ---------------------------------------------------------------
async def _batch_body(request: Request, what: str) -> Call:
    call = await read_call(request, body=True)
    body = call.body
    # Clauses 5.6.7.4 to 5.6.10.4: an empty array or a null item is a BadRequestData.
    if not isinstance(body, list) or not body:
        raise BadRequestData(f"A batch body must be a non-empty JSON array of {what}")
    if any(item is None for item in body):
        raise BadRequestData("A batch body cannot contain null items")
    return call


async def _batch_items(request: Request) -> tuple[Call, list[tuple[Any, Any]]]:
    call = await _batch_body(request, "entities")
    items = []
    resolver = request.app.state.resolver
    ld = request.headers.get("content-type", "").startswith("application/ld+json")
    for body in call.body:
        expand = call.expand
        if ld and isinstance(body, dict):
            if "@context" not in body:
                raise BadRequestData("Each entity needs an @context with application/ld+json")
            expand = (await resolver.resolve(body["@context"])).expand
        items.append((_strip_context(body), expand))
    return call, items


def batch_response(
    call: Call, result: BatchResult, *, created: list[str] | None = None
) -> Response:
    """201 with created ids, 204, or 207 with a BatchOperationResult (clauses 5.2.16, 6.14-6.17)."""
    if result.errors:
        errors = [
            {"entityId": entity_id, "error": err.problem()} for entity_id, err in result.errors
        ]
        return plain_json({"success": result.success, "errors": errors}, status=207, call=call)
    if created:
        return plain_json(created, status=201, call=call)
    return no_content(call)


async def batch_create(request: Request) -> Response:
    """Batch entity creation (clause 5.6.7, 6.14): 201 with the ids, or 207."""
    call, items = await _batch_items(request)
    result = await broker(request).batch_create(call.tenant, items)
    if result.errors:
        return batch_response(call, result)
    return plain_json(result.success, status=201, call=call)


async def batch_upsert(request: Request) -> Response:
    """Batch upsert (clause 5.6.8, 6.15): 201 with created ids, 204 when none created, or 207."""
    opts = flag_options(request, UPSERT_OPTIONS)
    if opts == UPSERT_OPTIONS:
        raise BadRequestData("options replace and update cannot be used together")
    call, items = await _batch_items(request)
    mode = "update" if "update" in opts else "replace"
    result, created = await broker(request).batch_upsert(call.tenant, items, mode=mode)
    return batch_response(call, result, created=created)


async def batch_update(request: Request) -> Response:
    """Batch update (clause 5.6.9, 6.16): 204 or 207."""
    overwrite = "noOverwrite" not in flag_options(request, APPEND_OPTIONS)
    call, items = await _batch_items(request)
    result = await broker(request).batch_update(call.tenant, items, overwrite=overwrite)
    return batch_response(call, result)


async def batch_merge(request: Request) -> Response:
    """Batch merge (clause 5.6.20, 6.31): 204 or 207."""
    call, items = await _batch_items(request)
    result = await broker(request).batch_merge(call.tenant, items)
    return batch_response(call, result)


async def batch_delete(request: Request) -> Response:
    """Batch delete (clause 5.6.10, 6.17): 204 or 207."""
    call = await _batch_body(request, "entity ids")
    result = await broker(request).batch_delete(call.tenant, call.body)
    return batch_response(call, result)


async def purge_entities(request: Request) -> Response:
    """Purge entities (clause 5.6.21): DELETE /entities with type / q / id selectors."""
    call = await read_call(request)
    get = request.query_params.get
    query = build_query(call, get, request.app.state.settings)
    drop, keep = get("drop"), get("keep")
    if drop is not None and keep is not None:
        raise BadRequestData("drop and keep cannot be used together")
    await broker(request).purge(
        call.tenant,
        query,
        drop=None if drop is None else {call.expand(a) for a in _split(drop)},
        keep=None if keep is None else {call.expand(a) for a in _split(keep)},
    )
    return no_content(call)


routes = [
    Route("/entities", query_entities, methods=["GET"]),
    Route("/entities", create_entity, methods=["POST"]),
    Route("/entities", purge_entities, methods=["DELETE"]),
    Route("/entities/{entity_id:str}", retrieve_entity, methods=["GET"]),
    Route("/entities/{entity_id:str}", delete_entity, methods=["DELETE"]),
    Route("/entities/{entity_id:str}", replace_entity, methods=["PUT"]),
    Route("/entities/{entity_id:str}", merge_entity, methods=["PATCH"]),
    Route("/entities/{entity_id:str}/attrs", append_attrs, methods=["POST"]),
    Route("/entities/{entity_id:str}/attrs", update_attrs, methods=["PATCH"]),
    Route("/entities/{entity_id:str}/attrs/{attr:str}", partial_update_attr, methods=["PATCH"]),
    Route("/entities/{entity_id:str}/attrs/{attr:str}", replace_attr, methods=["PUT"]),
    Route("/entities/{entity_id:str}/attrs/{attr:str}", delete_attr, methods=["DELETE"]),
    Route("/entityOperations/create", batch_create, methods=["POST"]),
    Route("/entityOperations/upsert", batch_upsert, methods=["POST"]),
    Route("/entityOperations/update", batch_update, methods=["POST"]),
    Route("/entityOperations/merge", batch_merge, methods=["POST"]),
    Route("/entityOperations/delete", batch_delete, methods=["POST"]),
    Route("/entityOperations/query", post_query, methods=["POST"]),
]
