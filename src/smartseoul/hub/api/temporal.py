"""HTTP routes for /temporal/entities and /temporal/entityOperations/query.

Clauses 6.18 to 6.22 and 6.24 (bindings of 5.6.11 to 5.6.16, 5.7.3, 5.7.4). The
temporal rules live in ``hub.temporal`` (queries, provision), ``hub.temporal_render``
and ``hub.temporal_aggregate``; these handlers read the request, run the store calls
and shape the response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import Call, int_param, no_content, read_call, respond
from smartseoul.hub.api.entities import apply_paging, build_query
from smartseoul.hub.broker import history_rows
from smartseoul.hub.entities import check_entity_id, check_name, is_uri, normalize_instance
from smartseoul.hub.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from smartseoul.hub.query import matches_q
from smartseoul.hub.store.base import HistoryQuery, HistoryRow, Store, TemporalEntityRow
from smartseoul.hub.temporal import (
    AGGREGATED_VALUES,
    TemporalFragment,
    TemporalQuerySpec,
    merge_temporal_entity,
    parse_temporal_fragment,
    parse_temporal_query,
    replace_history_instance,
    stamp,
    temporal_params_from_query,
)
from smartseoul.hub.temporal_render import content_range, limit_instances, render_temporal_entity

# Instances per attribute and dataset in one response; more gives 206 Partial Content
# with a Content-Range (clause 6.3.10).
MAX_INSTANCES = 10_000
_CHUNK = 200  # temporal entities whose history is read in one store call while paging


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _check_tenant(store: Store, tenant: str) -> None:
    if not await store.tenant_exists(tenant):
        raise NonexistentTenant(f"Tenant {tenant!r} does not exist", instance=tenant)


async def _temporal_entity(store: Store, tenant: str, entity_id: str) -> TemporalEntityRow:
    check_entity_id(entity_id)
    await _check_tenant(store, tenant)
    entity = await store.get_temporal_entity(tenant, entity_id)
    if entity is None:
        raise ResourceNotFound(f"No temporal evolution of {entity_id}", instance=entity_id)
    return entity


def _body(call: Call) -> Any:
    body = call.body
    if isinstance(body, dict) and "@context" in body:
        return {k: v for k, v in body.items() if k != "@context"}
    return body


def _names(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


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
    call: Call,
    spec: TemporalQuerySpec,
    projection: Projection,
    lang: str | None,
    found: Sequence[tuple[TemporalEntityRow, list[HistoryRow]]],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rendered entities and the Content-Range header when instances had to be cut."""
    headers: dict[str, str] = {}
    rows = [row for _, entity_rows in found for row in entity_rows]
    if spec.mode != AGGREGATED_VALUES:
        rows, span = limit_instances(rows, spec, MAX_INSTANCES)
        if span is not None:
            headers["Content-Range"] = content_range(span, spec)
    by_entity: dict[str, list[HistoryRow]] = {}
    for row in rows:
        by_entity.setdefault(row.entity_id, []).append(row)
    out = [
        projection.apply(
            render_temporal_entity(
                entity,
                by_entity.get(entity.entity_id, []),
                compact=call.compact,
                spec=spec,
                lang=lang,
                requested_attrs=projection.attrs or (),
            )
        )
        for entity, _ in found
    ]
    return out, headers


# --- consumption (clauses 5.7.3, 5.7.4) -------------------------------------------------------


async def retrieve_temporal(request: Request) -> Response:
    """Retrieve the temporal evolution of an entity (clause 5.7.3)."""
    call = await read_call(request)
    params = request.query_params
    spec = parse_temporal_query(params)
    projection = Projection(call, params.get)
    store = _store(request)
    entity = await _temporal_entity(store, call.tenant, request.path_params["entity_id"])
    rows = await store.query_history(
        call.tenant, spec.history_query([entity.entity_id], projection.attrs)
    )
    out, headers = _render(call, spec, projection, params.get("lang"), [(entity, rows)])
    return respond(call, out[0], status=206 if headers else 200, headers=headers)


def _pseudo_entity(entity: TemporalEntityRow, rows: list[HistoryRow]) -> dict[str, Any]:
    """The instances in the time range as a stored-form entity, for ``q`` and geoQ (5.7.4.4)."""
    attrs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if not row.deleted:
            attrs.setdefault(row.attr, []).append(row.data)
    return {"id": entity.entity_id, "type": entity.types, "attrs": attrs}


async def _query(request: Request, call: Call, params: Mapping[str, Any]) -> Response:
    """Query temporal evolution of entities (clause 5.7.4), for GET and POST."""
    store = _store(request)
    await _check_tenant(store, call.tenant)
    spec = parse_temporal_query(params, require_timerel=True)
    projection = Projection(call, params.get)
    query = build_query(call, params.get, request.app.state.settings)
    count = params.get("count", "false")
    if count not in ("true", "false"):
        raise BadRequestData("count: must be true or false")
    count = count == "true"
    apply_paging(
        query, int_param(request, "limit", None), int_param(request, "offset", 0), count,
        request.app.state.settings,
    )  # fmt: skip
    limit, offset = query.limit, query.offset
    query.limit, query.offset, query.count = 1 << 30, 0, False
    candidates, _ = await store.temporal_entities(call.tenant, query)
    # Entities match when some instance lies in the time range (and meets q): page after that.
    found: list[tuple[TemporalEntityRow, list[HistoryRow]]] = []
    total = 0
    filtered = query.q is not None or query.geo is not None
    history_attrs = None if filtered else projection.attrs
    for start in range(0, len(candidates), _CHUNK):
        chunk = candidates[start : start + _CHUNK]
        rows = await store.query_history(
            call.tenant, spec.history_query([e.entity_id for e in chunk], history_attrs)
        )
        by_entity: dict[str, list[HistoryRow]] = {}
        for row in rows:
            by_entity.setdefault(row.entity_id, []).append(row)
        for entity in chunk:
            entity_rows = by_entity.get(entity.entity_id)
            if not entity_rows:
                continue
            if filtered:
                pseudo = _pseudo_entity(entity, entity_rows)
                if query.q is not None and not matches_q(pseudo, query.q):
                    continue
                if query.geo is not None and not query.geo.matches(pseudo):
                    continue
                if projection.attrs:
                    entity_rows = [r for r in entity_rows if r.attr in projection.attrs]
            total += 1
            if offset < total <= offset + limit:
                found.append((entity, entity_rows))
        if total >= offset + limit and not count:
            break
    out, headers = _render(call, spec, projection, params.get("lang"), found)
    if count:
        headers["NGSILD-Results-Count"] = str(total)
    return respond(call, out, status=206 if "Content-Range" in headers else 200, headers=headers)


async def query_temporal(request: Request) -> Response:
    """Query temporal evolution of entities via GET (clause 6.18.3.2)."""
    call = await read_call(request)
    return await _query(request, call, request.query_params)


async def post_query_temporal(request: Request) -> Response:
    """Query temporal evolution of entities via POST (clause 6.24): a Query body (5.2.23)."""
    call = await read_call(request, body=True)
    body = _body(call)
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData('The body must be a Query object with "type": "Query"')
    params: dict[str, Any] = {
        k: v for k, v in request.query_params.items() if k in ("format", "options", "count")
    }
    selectors = body.get("entities") or []
    if not isinstance(selectors, list) or not all(isinstance(s, dict) for s in selectors):
        raise BadRequestData("entities: must be an array of EntitySelectors")
    if selectors:
        params.update(
            {k: selectors[0][k] for k in ("id", "idPattern", "type") if k in selectors[0]}
        )
    for key in ("attrs", "pick", "omit"):
        if key in body:
            params[key] = ",".join(_names(body[key]))
    for key in ("q", "scopeQ", "lang"):
        if key in body:
            params[key] = body[key]
    if isinstance(body.get("geoQ"), dict):
        geo = body["geoQ"]
        coords = geo.get("coordinates")
        params.update(
            georel=geo.get("georel"),
            geometry=geo.get("geometry"),
            coordinates=coords if isinstance(coords, str) else orjson.dumps(coords).decode(),
        )
        if "geoproperty" in geo:
            params["geoproperty"] = geo["geoproperty"]
    params.update(temporal_params_from_query(body))
    return await _query(request, call, params)


# --- provision (clauses 5.6.11 to 5.6.16) ------------------------------------------------------


def _clock() -> tuple[float, str]:
    now = time.time()
    return now, stamp(now)


async def _add(
    store: Store,
    tenant: str,
    entity_id: str,
    fragment: TemporalFragment,
    existing: TemporalEntityRow | None,
    now: float,
) -> None:
    async with store.transaction(tenant) as tx:
        await tx.append_history(history_rows(entity_id, fragment.attrs, now))
        await tx.upsert_temporal_entities(
            [merge_temporal_entity(existing, fragment, entity_id, now)]
        )


async def upsert_temporal(request: Request) -> Response:
    """Create or update the temporal evolution of an entity (clause 5.6.11)."""
    call = await read_call(request)
    now, now_text = _clock()
    fragment = parse_temporal_fragment(_body(call), call.expand, now=now_text)
    entity_id = str(fragment.entity_id)
    store = _store(request)
    existing = await store.get_temporal_entity(call.tenant, entity_id)
    await _add(store, call.tenant, entity_id, fragment, existing, now)
    if existing is not None:
        return no_content(call)
    location = f"/ngsi-ld/v1/temporal/entities/{quote(entity_id, safe=':')}"
    return no_content(call, status=201, headers={"Location": location})


async def add_temporal_attrs(request: Request) -> Response:
    """Add attributes to the temporal evolution of an entity (clause 5.6.12)."""
    call = await read_call(request)
    now, now_text = _clock()
    entity_id = request.path_params["entity_id"]
    fragment = parse_temporal_fragment(_body(call), call.expand, now=now_text, require_id=False)
    if fragment.entity_id not in (None, entity_id):
        raise BadRequestData(f"The body id {fragment.entity_id!r} differs from the URL id")
    store = _store(request)
    existing = await _temporal_entity(store, call.tenant, entity_id)
    await _add(store, call.tenant, entity_id, fragment, existing, now)
    return no_content(call)


async def delete_temporal(request: Request) -> Response:
    """Delete the temporal evolution of an entity (clause 5.6.16)."""
    call = await read_call(request)
    store = _store(request)
    entity = await _temporal_entity(store, call.tenant, request.path_params["entity_id"])
    async with store.transaction(call.tenant) as tx:
        await tx.delete_history(entity.entity_id)
    return no_content(call)


def _attr_name(call: Call, request: Request) -> str:
    name = request.path_params["attr"]
    check_name(name)
    return call.expand(name)


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
    store = _store(request)
    entity = await _temporal_entity(store, call.tenant, request.path_params["entity_id"])
    attr = _attr_name(call, request)
    async with store.transaction(call.tenant) as tx:
        deleted = await tx.delete_history(
            entity.entity_id, attr=attr, dataset_id=dataset_id, all_datasets=delete_all == "true"
        )
    if not deleted:
        raise ResourceNotFound(
            f"No instance of {request.path_params['attr']} (datasetId {dataset_id}) "
            f"in the temporal evolution of {entity.entity_id}",
            instance=entity.entity_id,
        )
    return no_content(call)


def _new_instance(
    call: Call, attr_term: str, attr: str, body: Any, now_text: str
) -> dict[str, Any]:
    """The replacing instance of clause 5.6.14: ``{attr: [instance]}``, ``{attr: instance}``
    or the bare instance."""
    if isinstance(body, dict):
        for key in (attr_term, attr):
            if key in body:
                body = body[key]
                break
    if isinstance(body, list):
        if len(body) != 1:
            raise BadRequestData(f"{attr_term}: give exactly one attribute instance")
        body = body[0]
    if not isinstance(body, dict):
        raise BadRequestData(f"{attr_term}: the attribute instance must be a JSON object")
    return normalize_instance(attr, body, call.expand, now=now_text)


async def _find_instance(
    store: Store, tenant: str, entity_id: str, attr: str, instance_id: str
) -> HistoryRow:
    rows = await store.query_history(
        tenant, HistoryQuery(entity_ids=[entity_id], attrs=[attr], include_deleted=True)
    )
    for row in rows:
        if row.instance_id == instance_id:
            return row
    what = "instance " + instance_id if rows else "attribute"
    raise ResourceNotFound(f"No {what} in {attr} of {entity_id}", instance=instance_id)


def _instance_id(request: Request) -> str:
    instance_id = request.path_params["instance_id"]
    if not is_uri(instance_id):
        raise BadRequestData(f"instanceId: {instance_id!r} is not a URI")
    return str(instance_id)


async def modify_temporal_instance(request: Request) -> Response:
    """Modify an attribute instance in the temporal evolution of an entity (clause 5.6.14)."""
    call = await read_call(request)
    now, now_text = _clock()
    instance_id = _instance_id(request)
    attr = _attr_name(call, request)
    instance = _new_instance(call, request.path_params["attr"], attr, _body(call), now_text)
    store = _store(request)
    entity = await _temporal_entity(store, call.tenant, request.path_params["entity_id"])
    old = await _find_instance(store, call.tenant, entity.entity_id, attr, instance_id)
    touched = TemporalFragment(None, [], None, {})
    async with store.transaction(call.tenant) as tx:
        row = replace_history_instance(old, instance, now=now)
        await tx.update_history_instance(entity.entity_id, attr, instance_id, row)
        await tx.upsert_temporal_entities(
            [merge_temporal_entity(entity, touched, entity.entity_id, now)]
        )
    return no_content(call)


async def delete_temporal_instance(request: Request) -> Response:
    """Delete an attribute instance from the temporal evolution of an entity (clause 5.6.15)."""
    call = await read_call(request)
    instance_id = _instance_id(request)
    attr = _attr_name(call, request)
    store = _store(request)
    entity = await _temporal_entity(store, call.tenant, request.path_params["entity_id"])
    async with store.transaction(call.tenant) as tx:
        deleted = await tx.delete_history(entity.entity_id, attr=attr, instance_id=instance_id)
    if not deleted:
        raise ResourceNotFound(
            f"No instance {instance_id} of {request.path_params['attr']} in {entity.entity_id}",
            instance=instance_id,
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
