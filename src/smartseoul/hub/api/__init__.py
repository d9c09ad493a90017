"""Thin HTTP routes for /ngsi-ld/v1: each module adds its ``routes`` list."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from smartseoul.hub.store.base import retry_conflicts

# Order matters only where paths overlap; each module owns a distinct prefix.
MODULES = ("entities", "discovery", "contexts", "temporal", "subscriptions", "info")
READS = frozenset({"GET", "HEAD"})

Endpoint = Callable[[Request], Awaitable[Response]]


def routes() -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for name in MODULES:
        module = importlib.import_module(f"smartseoul.hub.api.{name}")
        out.extend(_retrying(route) for route in module.routes)
    return out


def _retrying(route: BaseRoute) -> BaseRoute:
    """A write route runs again when its transaction lost to a concurrent one (WriteConflict:
    rolled back whole, so nothing of the first run remains); the body is read once."""
    if not isinstance(route, Route) or not route.methods or route.methods <= READS:
        return route
    endpoint: Endpoint = route.endpoint

    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        return await retry_conflicts(lambda: endpoint(request))

    return Route(route.path, run, methods=sorted(route.methods - {"HEAD"}), name=route.name)
