"""Thin HTTP routes for /ngsi-ld/v1: each module adds its ``routes`` list."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

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
    """The route as an ``IdRoute``; a write route also runs again when its transaction lost
    to a concurrent one (WriteConflict: rolled back whole, so nothing of the first run
    remains); the body is read once."""
    if not isinstance(route, Route):
        return route
    endpoint: Endpoint = route.endpoint
    if not route.methods or route.methods <= READS:
        methods = None if route.methods is None else sorted(route.methods)
        return IdRoute(route.path, endpoint, methods=methods, name=route.name)
    methods = sorted(route.methods - {"HEAD"})

    @functools.wraps(endpoint)
    async def run(request: Request) -> Response:
        return await retry_conflicts(lambda: endpoint(request))

    return IdRoute(route.path, run, methods=methods, name=route.name)


_ENCODED = re.compile(r"%2[Ff]|%25")


class IdRoute(Route):
    """A route whose path parameters may hold a "/": an entity id is any URI (clause 6.5.2,
    ``http://...`` too), an attribute may be named by its full URI (6.7.2), and so may a
    subscription or an @context. Clients percent-encode it (``%2F``), but the server decodes
    the path before routing, so the parameter would read as several segments and match no
    route, or the wrong one (``urn:a%2Fattrs`` as the attrs of ``urn:a``). When the raw path
    holds an encoded "/", it is matched with those left encoded and the parameters are
    decoded after; other requests take Starlette's path as they are.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = scope.get("raw_path")
        if not raw or (b"%2F" not in raw and b"%2f" not in raw):
            return super().matches(scope)
        path = _slashes_kept(raw.decode("utf-8", "replace"))
        match, child = super().matches({**scope, "path": path})
        if match is not Match.NONE:
            child["path_params"] = {
                key: _ENCODED.sub(_decoded, value) if isinstance(value, str) else value
                for key, value in child["path_params"].items()
            }
        return match, child


def _slashes_kept(raw: str) -> str:
    """The path decoded but for "/" and "%" (left as %2F and %25, so that each reads back
    unambiguously)."""
    return "%2F".join(unquote(part).replace("%", "%25") for part in re.split("%2[Ff]", raw))


def _decoded(found: re.Match[str]) -> str:
    return "%" if found.group() == "%25" else "/"
