"""HTTP routes for /temporal/entities and /temporal/entityOperations/query.

Clauses 6.18 to 6.22 and 6.24 (bindings of 5.6.11 to 5.6.16, 5.7.3, 5.7.4). The
operations live in ``hub.temporal_ops`` (on the broker), the rules in ``hub.temporal``,
``hub.temporal_render`` and ``hub.temporal_aggregate``; these handlers read the request,
call the broker and shape the response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import (
    JSON,
    Call,
    add_page_links,
    int_param,
    no_content,
    offset_param,
    read_call,
    respond,
)
from smartseoul.hub.api.entities import (
    GEO_STRINGS,
    apply_paging,
    broker,
    build_query,
    check_strings,
    selector_params,
)
from smartseoul.hub.entities import check_name, is_uri
from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.temporal import (
    TemporalQuerySpec,
    parse_temporal_query,
    temporal_params_from_query,
)
from smartseoul.hub.temporal_ops import TemporalResult
from smartseoul.hub.temporal_render import content_range, render_temporal_entity
from smartseoul.hub.versions import applied_header, downgrade_temporal, ok_status, preferred


def _max_instances(request: Request) -> int:
    """Instances per attribute and dataset in one answer; more gives 206 (clause 6.3.10)."""
    limit: int = request.app.state.settings.temporal_max_instances
    return limit


def _body(call: Call) -> Any:
    body = call.body
    if isinstance(body, dict) and "@context" in body:
        return {k: v for k, v in body.items() if k != "@context"}
    return body


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class Projection:
    """attrs / pick / omit (clause 4.21) on temporal entities, by output member name."""

    def __init__(self, call: Call, get: Callable[[str], Any]):
        attrs, pick, omit = _names(get("attrs")), _names(get("pick")), _names(get("omit"))
        if attrs and pick:
            raise BadRequestData("attrs and pick cannot be used together")
        for name in (*attrs, *pick, *omit):
            check_name(name)
        listed = pick or attrs
        self.attrs = [call.expand(n) for n in listed if n not in ("id", "type")] or None
        self.keep = None
        if listed:
            self.keep = {call.compact(call.expand(n)) for n in listed} | set(listed)
            if attrs:
                self.keep |= {"id", "type"}
        self.omit = {call.compact(call.expand(n)) for n in omit} | set(omit)

    def apply(self, entity: dict[str, Any]) -> dict[str, Any]:
        return {
            key: value
            for key, value in entity.items()
            if (self.keep is None or key in self.keep) and key not in self.omit
        }


def _render(
    request: Request,
    call: Call,
    spec: TemporalQuerySpec,
    projection: Projection,
    lang: str | None,
    result: TemporalResult,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rendered entities and the Content-Range header when instances were cut; with
    ``Prefer: ngsi-ld=<version>``, as that version reads them (clauses 4.3.6.8, 6.3.6)."""
    headers: dict[str, str] = {}
    if result.span is not None:
        headers["Content-Range"] = content_range(result.span, spec)
    version = preferred(request.headers.get("prefer"))
    found = result.found
    if version is not None:
        headers.update(applied_header(version))
        found = [downgrade_temporal(e, rows, version, call.compact) for e, rows in found]
    out = [
        projection.apply(
            render_temporal_entity(
                entity,
                rows,
                compact=call.compact,
                spec=spec,
                lang=lang,
                requested_attrs=projection.attrs or (),
                aggregated=result.aggregated.get(entity.entity_id),
            )
        )
        for entity, rows in found
    ]
    return out, headers


def _status(request: Request, headers: dict[str, str]) -> int:
    """206 when instances were cut (clause 6.3.10), 203 when the body was amended for an
    earlier version (6.18.3.2, 6.19.3.1), else 200."""
    if "Content-Range" in headers:
        return 206
    return ok_status(preferred(request.headers.get("prefer")))


# --- consumption (clauses 5.7.3, 5.7.4) -------------------------------------------------------


async def retrieve_temporal(request: Request) -> Response:
    """Retrieve the temporal evolution of an entity (clause 5.7.3)."""
    call = await read_call(request)
    params = request.query_params
    spec = parse_temporal_query(params)
    projection = Projection(call, params.get)
    result = await broker(request).retrieve_temporal_entity(
        call.tenant,
        request.path_params["entity_id"],
        spec,
        attrs=projection.attrs,
        max_instances=_max_instances(request),
    )
    out, headers = _render(request, call, spec, projection, params.get("lang"), result)
    return respond(call, out[0], status=_status(request, headers), headers=headers)


async def _query(request: Request, call: Call, params: Mapping[str, Any]) -> Response:
    """Query temporal evolution of entities (clause 5.7.4), for GET and POST."""
    spec = parse_temporal_query(params, require_timerel=True)
    projection = Projection(call, params.get)
    settings = request.app.state.settings
    query = build_query(call, params.get, settings)
    if query.ordering is not None and any(t.member != "id" for t in query.ordering.terms):
        # Clause 5.7.4.4: temporal entities can be ordered by "id" only.
        raise BadRequestData('orderBy: the temporal evolution of entities is ordered by "id" only')
    count = params.get("count", "false")
    if count not in ("true", "false"):
        raise BadRequestData("count: must be true or false")
    limit, offset = int_param(request, "limit", None), offset_param(request)
    apply_paging(query, limit, offset, count == "true", settings)
    result = await broker(request).query_temporal_entities(
        call.tenant, query, spec, attrs=projection.attrs, max_instances=_max_instances(request)
    )
    out, headers = _render(request, call, spec, projection, params.get("lang"), result)
    if result.total is not None:
        headers["NGSILD-Results-Count"] = str(result.total)
    response = respond(call, out, status=_status(request, headers), headers=headers)
    add_page_links(
        response, request, call, limit=query.limit, offset=query.offset, more=result.more
    )
    return response


async def query_temporal(request: Request) -> Response:
    """Query temporal evolution of entities via GET (clause 6.18.3.2)."""
    call = await read_call(request)
    return await _query(request, call, request.query_params)


async def post_query_temporal(request: Request) -> Response:
    """Query temporal evolution of entities via POST (clause 6.24): a Query body (5.2.23)."""
    call = await read_call(request, body=True)
    if call.accept == JSON and call.context_source is not None:
        # An @context given in the body (an array or object): the Link header of the answer
        # names a copy this broker serves, as for POST /entityOperations/query (6.3.6, 5.13).
        call.context_source = await request.app.state.resolver.context_url(call.context)
    body = _body(call)
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('The body must be a Query object with "type": "Query"')
    params: dict[str, Any] = {
        k: v
        for k, v in request.query_params.items()
        if k in ("format", "options", "count", "local")
    }
    for key in ("attrs", "pick", "omit"):
        if key in body:
            names = body[key]
            if (
                not isinstance(names, list)
                or not names
                or not all(isinstance(n, str) for n in names)
            ):
                # Clause 5.2.23: String[], an empty array is not allowed.
                raise BadRequestData(f"{key} must be a non-empty array of strings (clause 5.2.23)")
            params[key] = ",".join(names)
    check_strings(body, ("q", "scopeQ", "lang"))
    for key in ("q", "scopeQ", "lang"):
        if key in body:
            params[key] = body[key]
    if "ordering" in body:  # OrderingParams (clause 5.2.43); "id" only (clause 5.7.4.4)
        ordering = body["ordering"]
        if not isinstance(ordering, dict) or "orderBy" not in ordering:
            raise BadRequestData("ordering must be an OrderingParams object with orderBy (5.2.43)")
        params["orderBy"] = ordering["orderBy"]
        if "collation" in ordering:
            params["collation"] = ordering["collation"]
    if "geoQ" in body:
        geo = body["geoQ"]
        if not isinstance(geo, dict):
            raise BadRequestData("geoQ must be a GeoQuery object (clause 5.2.13)")
        check_strings(geo, GEO_STRINGS, "geoQ.")
        coords = geo.get("coordinates")
        params.update(
            georel=geo.get("georel"),
            geometry=geo.get("geometry"),
            coordinates=coords if isinstance(coords, str) else orjson.dumps(coords).decode(),
        )
        if "geoproperty" in geo:
            params["geoproperty"] = geo["geoproperty"]
    params.update(temporal_params_from_query(body))
    if body.get("entities") is not None:
        params = await selector_params(
            request, call, body["entities"], params, broker(request).temporal_ids
        )
    return await _query(request, call, params)


# --- provision (clauses 5.6.11 to 5.6.16) ------------------------------------------------------


async def upsert_temporal(request: Request) -> Response:
    """Create or update the temporal evolution of an entity (clause 5.6.11)."""
    call = await read_call(request)
    entity_id, created = await broker(request).upsert_temporal_entity(
        call.tenant, _body(call), call.expand
    )
    if not created:
        return no_content(call)
    location = f"/ngsi-ld/v1/temporal/entities/{quote(entity_id, safe=':')}"
    return no_content(call, status=201, headers={"Location": location})


async def add_temporal_attrs(request: Request) -> Response:
    """Add attributes to the temporal evolution of an entity (clause 5.6.12)."""
    call = await read_call(request)
    await broker(request).add_temporal_attrs(
        call.tenant, request.path_params["entity_id"], _body(call), call.expand
    )
    return no_content(call)


async def delete_temporal(request: Request) -> Response:
    """Delete the temporal evolution of an entity (clause 5.6.16)."""
    call = await read_call(request)
    await broker(request).delete_temporal_entity(call.tenant, request.path_params["entity_id"])
    return no_content(call)


async def delete_temporal_attr(request: Request) -> Response:
    """Delete an attribute from the temporal evolution of an entity (clause 5.6.13)."""
    call = await read_call(request)
    params = request.query_params
    dataset_id = params.get("datasetId")
    if dataset_id is not None and not is_uri(dataset_id):
        raise BadRequestData(f"datasetId: {dataset_id!r} is not a URI")
    delete_all = params.get("deleteAll", "false")
    if delete_all not in ("true", "false"):
        raise BadRequestData("deleteAll: must be true or false")
    await broker(request).delete_temporal_attr(
        call.tenant,
        request.path_params["entity_id"],
        request.path_params["attr"],
        call.expand,
        dataset_id=dataset_id,
        delete_all=delete_all == "true",
    )
    return no_content(call)


async def modify_temporal_instance(request: Request) -> Response:
    """Modify an attribute instance in the temporal evolution of an entity (clause 5.6.14)."""
    call = await read_call(request)
    path = request.path_params
    await broker(request).modify_temporal_instance(
        call.tenant, path["entity_id"], path["attr"], path["instance_id"], _body(call), call.expand
    )
    return no_content(call)


async def delete_temporal_instance(request: Request) -> Response:
    """Delete an attribute instance from the temporal evolution of an entity (clause 5.6.15)."""
    call = await read_call(request)
    path = request.path_params
    await broker(request).delete_temporal_instance(
        call.tenant, path["entity_id"], path["attr"], path["instance_id"], call.expand
    )
    return no_content(call)


_ENTITY = "/temporal/entities/{entity_id:str}"
routes = [
    Route("/temporal/entities", query_temporal, methods=["GET"]),
    Route("/temporal/entities", upsert_temporal, methods=["POST"]),
    Route(_ENTITY, retrieve_temporal, methods=["GET"]),
    Route(_ENTITY, delete_temporal, methods=["DELETE"]),
    Route(_ENTITY + "/attrs", add_temporal_attrs, methods=["POST"]),
    Route(_ENTITY + "/attrs/{attr:str}", delete_temporal_attr, methods=["DELETE"]),
    Route(
        _ENTITY + "/attrs/{attr:str}/{instance_id:str}", modify_temporal_instance, methods=["PATCH"]
    ),
    Route(
        _ENTITY + "/attrs/{attr:str}/{instance_id:str}",
        delete_temporal_instance,
        methods=["DELETE"],
    ),
    Route("/temporal/entityOperations/query", post_query_temporal, methods=["POST"]),
]
