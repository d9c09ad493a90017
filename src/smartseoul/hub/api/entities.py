"""HTTP routes for /entities, /entityOperations (clauses 6.4 to 6.7, 6.14 to 6.17, 6.23)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import (
    GEO_JSON,
    Call,
    flag_options,
    int_param,
    no_content,
    plain_json,
    read_call,
    respond,
)
from smartseoul.hub.broker import BatchResult, UpdateResult
from smartseoul.hub.entities import check_entity_id
from smartseoul.hub.errors import BadRequestData, TooManyResults
from smartseoul.hub.render import RenderOptions, geojson_feature, render_entity
from smartseoul.hub.store.base import EntityQuery


def broker(request: Request) -> Any:
    return request.app.state.broker


def render_options(
    request: Request, call: Call, params: dict[str, Any] | None = None
) -> RenderOptions:
    """options / format / attrs / pick / omit / lang (clauses 4.21, 6.3.7, 6.3.12)."""
    get = (params or {}).get if params is not None else request.query_params.get
    opts = flag_options(request) if params is None else set(_split(params.get("options")))
    fmt = get("format")
    if fmt is None:
        fmt = (
            "simplified"
            if "keyValues" in opts or "simplified" in opts
            else ("concise" if "concise" in opts else "normalized")
        )
    elif fmt == "keyValues":
        fmt = "simplified"
    if fmt not in ("normalized", "concise", "simplified"):
        raise BadRequestData(f"Unknown format {fmt!r}")
    known = {
        "keyValues",
        "simplified",
        "concise",
        "normalized",
        "sysAttrs",
        "noOverwrite",
        "replace",
        "update",
    }
    bad = opts - known
    if bad:
        raise BadRequestData(f"Unknown options {sorted(bad)}")
    attrs = _split(get("attrs")) or _split(get("pick"))
    omit = _split(get("omit"))
    if get("attrs") is not None and get("pick") is not None:
        raise BadRequestData("attrs and pick cannot be used together")
    keep = {call.expand(a) for a in attrs if a not in ("id", "type")} if attrs else None
    return RenderOptions(
        format=fmt,
        sys_attrs="sysAttrs" in opts,
        attrs=keep,
        omit={call.expand(a) for a in omit if a not in ("id", "type")} if omit else None,
        lang=get("lang"),
        keep_id=not attrs or "id" in attrs or get("pick") is None,
        keep_type=not attrs or "type" in attrs or get("pick") is None,
    )


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def build_query(call: Call, get: Any, settings: Any, *, require_filter: bool = True) -> EntityQuery:
    """The query parameters of clause 6.4.3.2 / 5.7.2 as an EntityQuery."""
    from smartseoul.hub.geo import parse_geoquery
    from smartseoul.hub.query import parse_q, parse_scope_q, parse_type_expr

    query = EntityQuery()
    if (value := get("id")) is not None:
        ids = _split(value)
        for i in ids:
            check_entity_id(i)
        query.ids = ids
    query.id_pattern = get("idPattern")
    if query.id_pattern is not None:
        import re

        try:
            re.compile(query.id_pattern)
        except re.error as exc:
            raise BadRequestData(f"idPattern is not a valid regular expression: {exc}") from None
    if (value := get("type")) is not None:
        query.types = parse_type_expr(value, call.expand)
    attrs = get("attrs") or get("pick")
    if get("q") is not None:
        query.q = parse_q(get("q"), call.expand)
    georel = get("georel")
    if georel is not None or get("geometry") is not None or get("coordinates") is not None:
        query.geo = parse_geoquery(
            georel, get("geometry"), get("coordinates"), get("geoproperty"), call.expand
        )
    if (value := get("scopeQ")) is not None:
        query.scope_q = parse_scope_q(value)
    if attrs:
        query.attrs = [call.expand(a) for a in _split(attrs) if a not in ("id", "type")] or None
    if require_filter and not (
        query.ids
        or query.id_pattern
        or query.types
        or query.attrs
        or query.q
        or query.geo
        or query.scope_q
    ):
        raise BadRequestData(
            "A query needs at least one of type, id, idPattern, attrs, q, geoQ or scopeQ (clause 5.7.2.4)"
        )
    return query


def apply_paging(
    query: EntityQuery, limit: int | None, offset: int | None, count: bool, settings: Any
) -> None:
    limit = settings.default_limit if limit is None else limit
    if limit > settings.max_limit:
        raise TooManyResults(f"limit {limit} is over the maximum of {settings.max_limit}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true")
    query.limit, query.offset, query.count = limit, offset or 0, count


def render_many(
    call: Call, entities: list[dict[str, Any]], opts: RenderOptions, geoproperty: str | None
) -> Any:
    if call.accept == GEO_JSON:
        geo = call.expand(geoproperty) if geoproperty else "https://uri.etsi.org/ngsi-ld/location"
        return {
            "type": "FeatureCollection",
            "features": [geojson_feature(e, call.compact, opts, geo) for e in entities],
        }
    return [render_entity(e, call.compact, opts) for e in entities]


def _bool_param(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false")
    return value == "true"


async def query_entities(request: Request) -> Response:
    """Query entities (clause 5.7.2)."""
    call = await read_call(request, geo=True)
    settings = request.app.state.settings
    params = request.query_params
    query = build_query(call, params.get, settings)
    count = _bool_param(request, "count")
    apply_paging(
        query, int_param(request, "limit", None), int_param(request, "offset", 0), count, settings
    )
    opts = render_options(request, call)
    entities, total = await broker(request).query_entities(call.tenant, query)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else None
    return respond(
        call, render_many(call, entities, opts, params.get("geometryProperty")), headers=headers
    )


async def post_query(request: Request) -> Response:
    """Query entities via POST (clause 6.23): a Query data type in the body (5.2.23)."""
    call = await read_call(request, geo=True, body=True)
    body = call.body
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('The body must be a Query object with "type": "Query"')
    settings = request.app.state.settings
    flat: dict[str, Any] = {}
    entities_sel = body.get("entities") or []
    if entities_sel:
        sel = entities_sel[0]
        if "type" in sel:
            flat["type"] = sel["type"]
        if "id" in sel:
            flat["id"] = sel["id"]
        if "idPattern" in sel:
            flat["idPattern"] = sel["idPattern"]
    if body.get("attrs"):
        flat["attrs"] = ",".join(body["attrs"])
    for key in ("q", "scopeQ", "lang"):
        if key in body:
            flat[key] = body[key]
    if isinstance(body.get("geoQ"), dict):
        geo = body["geoQ"]
        flat["georel"] = geo.get("georel")
        flat["geometry"] = geo.get("geometry")
        coords = geo.get("coordinates")
        flat["coordinates"] = (
            coords if isinstance(coords, str) else __import__("orjson").dumps(coords).decode()
        )
        if "geoproperty" in geo:
            flat["geoproperty"] = geo["geoproperty"]
    query = build_query(call, flat.get, settings)
    apply_paging(
        query,
        int_param(request, "limit", None),
        int_param(request, "offset", 0),
        _bool_param(request, "count"),
        settings,
    )
    opts = render_options(request, call)
    entities, total = await broker(request).query_entities(call.tenant, query)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else None
    return respond(call, render_many(call, entities, opts, None), headers=headers)


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


async def retrieve_entity(request: Request) -> Response:
    """Retrieve entity (clause 5.7.1)."""
    call = await read_call(request, geo=True)
    entity_id = request.path_params["entity_id"]
    entity = await broker(request).retrieve_entity(call.tenant, entity_id)
    if (value := request.query_params.get("type")) is not None:
        from smartseoul.hub.query import matches_types, parse_type_expr

        if not matches_types(entity["type"], parse_type_expr(value, call.expand)):
            from smartseoul.hub.errors import ResourceNotFound

            raise ResourceNotFound(
                f"Entity {entity_id} of type {value} was not found", instance=entity_id
            )
    opts = render_options(request, call)
    if call.accept == GEO_JSON:
        geo = request.query_params.get("geometryProperty")
        return respond(
            call,
            geojson_feature(
                entity,
                call.compact,
                opts,
                call.expand(geo) if geo else "https://uri.etsi.org/ngsi-ld/location",
            ),
        )
    return respond(call, render_entity(entity, call.compact, opts))


async def delete_entity(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).delete_entity(call.tenant, request.path_params["entity_id"])
    return no_content(call)


async def replace_entity(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).replace_entity(
        call.tenant, request.path_params["entity_id"], _strip_context(call.body), call.expand
    )
    return no_content(call)


async def merge_entity(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).merge_entity(
        call.tenant, request.path_params["entity_id"], _strip_context(call.body), call.expand
    )
    return no_content(call)


def update_result_response(call: Call, result: UpdateResult) -> Response:
    if not result.not_updated:
        return no_content(call)
    return plain_json(
        {
            "updated": result.updated,
            "notUpdated": [{"attributeName": n, "reason": r} for n, r in result.not_updated],
        },
        status=207,
    )


async def append_attrs(request: Request) -> Response:
    call = await read_call(request)
    overwrite = "noOverwrite" not in flag_options(request)
    result = await broker(request).append_attrs(
        call.tenant,
        request.path_params["entity_id"],
        _strip_context(call.body),
        call.expand,
        overwrite=overwrite,
    )
    return update_result_response(call, result)


async def update_attrs(request: Request) -> Response:
    call = await read_call(request)
    result = await broker(request).update_attrs(
        call.tenant, request.path_params["entity_id"], _strip_context(call.body), call.expand
    )
    return update_result_response(call, result)


async def partial_update_attr(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).partial_update_attr(
        call.tenant,
        request.path_params["entity_id"],
        request.path_params["attr"],
        _strip_context(call.body),
        call.expand,
    )
    return no_content(call)


async def replace_attr(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).replace_attr(
        call.tenant,
        request.path_params["entity_id"],
        request.path_params["attr"],
        _strip_context(call.body),
        call.expand,
    )
    return no_content(call)


async def delete_attr(request: Request) -> Response:
    call = await read_call(request)
    await broker(request).delete_attr(
        call.tenant,
        request.path_params["entity_id"],
        request.path_params["attr"],
        call.expand,
        dataset_id=request.query_params.get("datasetId"),
        delete_all=_bool_param(request, "deleteAll"),
    )
    return no_content(call)


# -- batch operations ---------------------------------------------------------------
async def _batch_items(request: Request) -> tuple[Call, list[tuple[Any, Any]]]:
    call = await read_call(request, body=True)
    if not isinstance(call.body, list):
        raise BadRequestData("A batch body must be a JSON array")
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


def batch_response(call: Call, result: BatchResult, *, created: bool = False) -> Response:
    """201 with the ids or 204 when all succeeded; 207 with a BatchOperationResult (clause 5.2.16)."""
    if result.errors:
        errors = [
            {"entityId": entity_id, "error": err.problem()} for entity_id, err in result.errors
        ]
        return plain_json({"success": result.success, "errors": errors}, status=207)
    if created:
        return plain_json(result.success, status=201)
    return no_content(call)


async def batch_create(request: Request) -> Response:
    call, items = await _batch_items(request)
    result = await broker(request).batch_create(call.tenant, items)
    return batch_response(call, result, created=True)


async def batch_upsert(request: Request) -> Response:
    call, items = await _batch_items(request)
    opts = flag_options(request)
    mode = "update" if "update" in opts else "replace"
    result, created = await broker(request).batch_upsert(call.tenant, items, mode=mode)
    if result.errors:
        return batch_response(call, result)
    if created:
        return plain_json(created, status=201)
    return no_content(call)


async def batch_update(request: Request) -> Response:
    call, items = await _batch_items(request)
    overwrite = "noOverwrite" not in flag_options(request)
    result = await broker(request).batch_update(call.tenant, items, overwrite=overwrite)
    return batch_response(call, result)


async def batch_merge(request: Request) -> Response:
    call, items = await _batch_items(request)
    result = await broker(request).batch_merge(call.tenant, items)
    return batch_response(call, result)


async def batch_delete(request: Request) -> Response:
    call = await read_call(request, body=True)
    if not isinstance(call.body, list):
        raise BadRequestData("A batch delete body must be a JSON array of entity ids")
    result = await broker(request).batch_delete(call.tenant, call.body)
    return batch_response(call, result)


async def purge_entities(request: Request) -> Response:
    """Purge entities (clause 5.6.21): DELETE /entities with type / q / id selectors."""
    call = await read_call(request)
    query = build_query(call, request.query_params.get, request.app.state.settings)
    await broker(request).purge(call.tenant, query)
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
