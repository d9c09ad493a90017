"""HTTP routes for /subscriptions (clauses 6.10, 6.11; behaviour 5.8.1 to 5.8.5).

The rules live in ``hub.subscriptions``; handlers read the request, call them, store and
shape the response. Paths are relative to the API root.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import (
    Call,
    add_page_links,
    int_param,
    no_content,
    offset_param,
    read_call,
    respond,
)
from smartseoul.hub.entities import is_uri, now_iso
from smartseoul.hub.errors import (
    AlreadyExists,
    BadRequestData,
    NonexistentTenant,
    ResourceNotFound,
    TooManyResults,
)
from smartseoul.hub.subscriptions import (
    CONTEXT_LINK,
    context_url,
    parse_subscription,
    render_subscription,
    update_subscription,
)

PREFIX = "/ngsi-ld/v1/subscriptions/"


def _subscription_id(request: Request) -> str:
    sub_id = request.path_params["subscription_id"]
    if not is_uri(sub_id):  # clauses 5.8.2.4, 5.8.3.4, 5.8.5.4
        raise BadRequestData(f"Subscription id must be a URI, got {sub_id!r}")
    return sub_id


async def _check_jsonld_context(request: Request, sub: dict[str, Any]) -> None:
    """Clause 5.8.1.4: an unavailable jsonldContext is LdContextNotAvailable."""
    if "jsonldContext" in sub:
        await request.app.state.resolver.resolve(sub["jsonldContext"])


async def _host_context(request: Request, call: Call, sub: dict[str, Any]) -> None:
    """Notifications in application/json name their @context in a Link header, which holds
    one URL. A subscription whose @context is no single URL (an inline object, or an array of
    several entries) gets it hosted as kind ImplicitlyCreated (clause 5.13.1), and that URL
    stands for it: in the Link header and as the default jsonldContext (clause 5.8.1.4)."""
    source = sub.get("context")
    sub.pop(CONTEXT_LINK, None)
    if source is not None and context_url(source) is None:
        sub[CONTEXT_LINK] = await request.app.state.resolver.context_url(call.context)


async def _require_tenant(request: Request, call: Call) -> None:
    if not await request.app.state.store.tenant_exists(call.tenant):
        raise NonexistentTenant(f"Tenant {call.tenant!r} does not exist", instance=call.tenant)


async def _not_found(request: Request, call: Call, sub_id: str) -> ResourceNotFound:
    """Clause 5.5.10: an operation on a tenant that does not exist is NonexistentTenant.
    Checked only once the subscription is missing, so a found one costs no extra read."""
    await _require_tenant(request, call)
    return ResourceNotFound(f"Subscription {sub_id} was not found", instance=sub_id)


async def create_subscription(request: Request) -> Response:
    """Create subscription (clause 5.8.1): 201 with Location."""
    call = await read_call(request)
    sub = parse_subscription(
        call.body, call.expand, source=call.context_source, now_text=now_iso(), now=time.time()
    )
    await _check_jsonld_context(request, sub)
    await _host_context(request, call, sub)
    if not await request.app.state.store.insert_subscription(call.tenant, sub):
        raise AlreadyExists(f"Subscription {sub['id']} already exists", instance=sub["id"])
    location = PREFIX + quote(sub["id"], safe=":")
    return no_content(call, status=201, headers={"Location": location})


async def query_subscriptions(request: Request) -> Response:
    """Query subscriptions (clause 5.8.4) with limit, offset and count (clause 5.5.9)."""
    call = await read_call(request)
    settings = request.app.state.settings
    limit = int_param(request, "limit", settings.default_limit)
    offset = offset_param(request)
    assert limit is not None and offset is not None
    if limit > settings.max_limit:
        raise TooManyResults(f"limit {limit} is over the maximum of {settings.max_limit}")
    count = request.query_params.get("count", "false")
    if count not in ("true", "false"):
        raise BadRequestData(f"count must be true or false, not {count!r}")
    if limit == 0 and count == "false":
        raise BadRequestData("limit=0 is only allowed together with count=true (clause 6.3.13)")
    await _require_tenant(request, call)
    page, total = await request.app.state.store.list_subscriptions(
        call.tenant, limit=limit, offset=offset
    )
    now = time.time()
    body = [render_subscription(sub, counters, call.compact, now=now) for sub, counters in page]
    headers = {"NGSILD-Results-Count": str(total)} if count == "true" else None
    response = respond(call, body, headers=headers)
    more = offset + limit < total
    add_page_links(response, request, call, limit=limit, offset=offset, more=more)
    return response


async def _load(request: Request, call: Call) -> tuple[str, dict[str, Any], dict[str, Any]]:
    sub_id = _subscription_id(request)
    found = await request.app.state.store.get_subscription(call.tenant, sub_id)
    if found is None:
        raise await _not_found(request, call, sub_id)
    return sub_id, found[0], found[1]


async def retrieve_subscription(request: Request) -> Response:
    """Retrieve subscription (clause 5.8.3)."""
    call = await read_call(request)
    _, sub, counters = await _load(request, call)
    return respond(call, render_subscription(sub, counters, call.compact, now=time.time()))


async def update_subscription_route(request: Request) -> Response:
    """Update subscription (clause 5.8.2): 204."""
    call = await read_call(request)
    sub_id, sub, _ = await _load(request, call)
    previous = orjson.loads(orjson.dumps(sub))  # as loaded, whatever the update does to it
    updated = update_subscription(
        sub, call.body, call.expand, source=call.context_source, now_text=now_iso(), now=time.time()
    )
    await _check_jsonld_context(request, updated)
    if updated.get("context") is not sub.get("context"):  # a new @context: host it anew
        await _host_context(request, call, updated)
    store = request.app.state.store
    if not await store.replace_subscription(call.tenant, updated, previous=previous):
        raise ResourceNotFound(f"Subscription {sub_id} was not found", instance=sub_id)
    return no_content(call)


async def delete_subscription(request: Request) -> Response:
    """Delete subscription (clause 5.8.5): 204."""
    call = await read_call(request)
    sub_id = _subscription_id(request)
    if not await request.app.state.store.delete_subscription(call.tenant, sub_id):
        raise await _not_found(request, call, sub_id)
    return no_content(call)


routes = [
    Route("/subscriptions", create_subscription, methods=["POST"]),
    Route("/subscriptions", query_subscriptions, methods=["GET"]),
    Route("/subscriptions/{subscription_id:path}", retrieve_subscription, methods=["GET"]),
    Route("/subscriptions/{subscription_id:path}", update_subscription_route, methods=["PATCH"]),
    Route("/subscriptions/{subscription_id:path}", delete_subscription, methods=["DELETE"]),
]
