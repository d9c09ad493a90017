"""HTTP routes for /jsonldContexts: store, list, serve and delete @contexts (clauses 5.13, 6.29, 6.30).

The logic lives in :class:`smartseoul.hub.jsonld.ContextResolver`; these handlers
only read parameters and shape responses. Paths are relative to the API root.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import body_media_type, choose_accept, refuse_nul, tenant_of
from smartseoul.hub.errors import (
    BadRequestData,
    InvalidRequest,
    OperationNotSupported,
    ResourceNotFound,
)
from smartseoul.hub.jsonld import CACHED_TTL, KINDS, ContextResolver, is_core_context_url


def _json(request: Request, body: Any) -> Response:
    return Response(orjson.dumps(body), headers=_tenant(request), media_type="application/json")


def _tenant(request: Request) -> dict[str, str] | None:
    """Clause 6.3.14: an NGSILD-Tenant request header is echoed, although @contexts are
    kept for the whole broker, not per tenant."""
    tenant = tenant_of(request)
    return {"NGSILD-Tenant": tenant} if tenant else None


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, not {value!r}")
    return value == "true"


def _time(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _url(record: dict[str, Any], resolver: ContextResolver) -> str:
    # A Cached @context is listed under its original URL (clause 5.13.3.1); ours under
    # the URL we serve it at now, which follows public_base_url if that changes.
    return record["url"] if record["kind"] == "Cached" else resolver.hosted_url(record["id"])


def _metadata(record: dict[str, Any], resolver: ContextResolver) -> dict[str, Any]:
    """The clause 5.13.3.5 description of a stored @context."""
    info: dict[str, Any] = {
        "URL": _url(record, resolver),
        "localId": record["id"],
        "kind": record["kind"],
        "createdAt": _time(record.get("created_at")),
    }
    if record["kind"] == "Cached" and isinstance(record.get("created_at"), int | float):
        info["expiresAt"] = _time(record["created_at"] + CACHED_TTL)
    if record.get("last_usage") is not None:
        info["lastUsage"] = _time(record["last_usage"])
    info["numberOfHits"] = record.get("hits") or 0
    return info


async def _record(request: Request) -> tuple[ContextResolver, dict[str, Any]]:
    resolver: ContextResolver = request.app.state.resolver
    context_id = request.path_params.get("context_id", "")
    if not context_id:
        raise BadRequestData("no @context identifier given")
    record = await resolver.find_record(context_id)
    if record is None:
        raise ResourceNotFound(f"no stored @context {context_id}", instance=context_id)
    return resolver, record


async def list_contexts(request: Request) -> Response:
    """List the stored @contexts (clause 5.13.3)."""
    choose_accept(request.headers.get("accept"))  # clause 6.3.4: else 406
    resolver: ContextResolver = request.app.state.resolver
    details = _flag(request, "details")
    kind = request.query_params.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    await resolver.flush_usage()
    records = [
        r for r in await request.app.state.store.list_contexts() if kind in (None, r["kind"])
    ]
    if details:
        return _json(request, [_metadata(r, resolver) for r in records])
    return _json(request, [_url(r, resolver) for r in records])


async def get_context(request: Request) -> Response:
    """Serve a hosted @context, or the metadata of any stored one (clause 5.13.4)."""
    choose_accept(request.headers.get("accept"))  # clause 6.3.4: else 406
    details = _flag(request, "details")
    if details:
        await request.app.state.resolver.flush_usage()  # numberOfHits counted so far
    resolver, record = await _record(request)
    if details:
        return _json(request, _metadata(record, resolver))
    if record["kind"] == "Cached":
        raise OperationNotSupported(
            f"@context {record['id']} is a cached copy of {record['url']}; it is not served"
        )
    return _json(request, record["data"])


async def add_context(request: Request) -> Response:
    """Store a client's @context and host it (clause 5.13.2)."""
    body_media_type(request)  # clause 6.3.4: a bare 411 or 415 as for every POST
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
    refuse_nul(raw, body)
    if not isinstance(body, dict) or "@context" not in body:
        raise BadRequestData("the body must be a JSON object with a top-level @context")
    resolver: ContextResolver = request.app.state.resolver
    # Anything beside @context is discarded (clause 5.13.2.3).
    record = await resolver.add(body["@context"])
    location = request.url.path.rstrip("/") + "/" + record["id"]
    return Response(status_code=201, headers={"Location": location, **(_tenant(request) or {})})


async def delete_context(request: Request) -> Response:
    """Delete a stored @context, or re-download a Cached one with reload=true (clause 5.13.5)."""
    reload = _flag(request, "reload")
    if is_core_context_url(request.path_params.get("context_id")):
        raise BadRequestData("the core @context is built in and cannot be deleted or reloaded")
    resolver, record = await _record(request)
    if reload:
        await resolver.reload(record)
    else:
        await resolver.delete(record)
    return Response(status_code=204, headers=_tenant(request))


# The collection answers with and without a trailing slash (clause 6.29.2 writes
# "/jsonldContexts/"); those routes come first so the {context_id} ones never see an empty id.
routes = [
    *(
        Route(path, endpoint, methods=[method])
        for path in ("/jsonldContexts", "/jsonldContexts/")
        for method, endpoint in (
            ("GET", list_contexts),
            ("POST", add_context),
            ("DELETE", delete_context),
        )
    ),
    Route("/jsonldContexts/{context_id:path}", get_context, methods=["GET"]),
    Route("/jsonldContexts/{context_id:path}", delete_context, methods=["DELETE"]),
]
