"""create_app(settings): the ASGI application with every part's routes mounted."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from smartseoul import __version__
from smartseoul.config import Settings
from smartseoul.hub.api import routes as hub_routes
from smartseoul.hub.api.common import NUL_DETAIL
from smartseoul.hub.broker import Broker
from smartseoul.hub.errors import (
    BadRequestData,
    HttpStatusOnly,
    InternalError,
    InvalidRequest,
    NgsiError,
    ResourceNotFound,
)
from smartseoul.hub.jsonld import ContextResolver
from smartseoul.hub.notifier import start_notifications
from smartseoul.hub.store.base import Store
from smartseoul.ingest.api import routes as iot_routes
from smartseoul.ingest.iot_agent import start_iot_agent
from smartseoul.opendata.auth import install as install_hub_auth
from smartseoul.opendata.routes import routes as opendata_routes
from smartseoul.services import service_names, service_routes
from smartseoul.web.routes import routes as web_routes

log = logging.getLogger("smartseoul")
API_ROOT = "/ngsi-ld/v1"
STATS_EVERY = 15.0  # seconds between two counts of the store sizes for /metrics


def make_store(settings: Settings) -> Store:
    if settings.is_postgres:
        from smartseoul.hub.store.postgres import PostgresStore

        return PostgresStore(settings.database_url, pool_size=settings.postgres_pool_size)
    from smartseoul.hub.store.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, mmap_mb=settings.sqlite_mmap_mb)


def tenant_header(request: Request | None) -> dict[str, str] | None:
    """Clause 6.3.14: an NGSILD-Tenant request header is echoed in every response."""
    tenant = request.headers.get("ngsild-tenant") if request is not None else None
    return {"NGSILD-Tenant": tenant} if tenant else None


def problem_response(err: NgsiError, request: Request | None = None) -> Response:
    return Response(
        orjson.dumps(err.problem()), status_code=err.status, media_type="application/json",
        headers=tenant_header(request),
    )  # fmt: skip


async def ngsi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NgsiError)
    return problem_response(exc, request)


async def status_only(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpStatusOnly)
    headers = tenant_header(request)
    if exc.body is not None:
        return Response(
            orjson.dumps(exc.body), status_code=exc.status, media_type="application/json",
            headers=headers,
        )  # fmt: skip
    return Response(status_code=exc.status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem_response(ResourceNotFound(f"No resource at {request.url.path}"), request)
    if exc.status_code == 405:
        headers = {**(exc.headers or {}), "Allow": allowed_methods(request, exc)}
        headers.update(tenant_header(request) or {})
        return Response(
            orjson.dumps(
                {
                    "type": "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest",
                    "title": "Method not allowed",
                    "status": 405,
                    "detail": f"{request.method} is not allowed on {request.url.path}",
                }
            ),
            status_code=405,
            headers=headers,
            media_type="application/json",
        )
    err = InvalidRequest(str(exc.detail), status=exc.status_code)
    return problem_response(err, request)


def allowed_methods(request: Request, exc: HTTPException) -> str:
    """Every method some route offers on this path (IETF RFC 7231 6.5.5, clause 6.3.2).

    Starlette's 405 names only the first route matching the path; NGSI-LD resources
    have one route per method.
    """
    methods: set[str] = set()

    def walk(routes: list[Any], scope: dict[str, Any]) -> None:
        for route in routes:
            match, child = route.matches(scope)
            if match == Match.NONE:
                continue
            if isinstance(route, Mount):
                # Routing goes into the first Mount that matches: no route after it counts
                # (the Open Data Plaza's catch-all after /ngsi-ld/v1 added GET, HEAD).
                walk(route.routes, {**scope, **child})
                return
            if getattr(route, "methods", None):
                methods.update(route.methods)

    # A fresh scope: routing has already moved root_path into the Mount. The raw path lets
    # the hub's routes read an id holding an encoded "/" (hub.api.IdRoute).
    scope = request.scope
    walk(request.app.routes, {"type": "http", "path": scope["path"], "root_path": "",
                              "raw_path": scope.get("raw_path"), "method": scope["method"],
                              "path_params": {}})  # fmt: skip
    if not methods:
        return (exc.headers or {}).get("Allow", "")
    return ", ".join(sorted(methods))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(InternalError(f"{type(exc).__name__}: {exc}"), request)


class CatchErrors:
    """An unexpected error becomes a 500 ProblemDetails (``internal_error``) here, and the
    connection stays open. Left to Starlette's ServerErrorMiddleware, the error is re-raised
    after the answer and uvicorn closes the connection, resetting a client's next request
    on it. An error after the response has started still goes up: only closing the
    connection can end half a response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if started:
                raise
            response = await internal_error(Request(scope), exc)
            await response(scope, receive, send)


class Metrics:
    """Prometheus request counters and latencies, as a thin ASGI middleware."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry):
        self.app = app
        self.requests = Counter(
            "smartseoul_http_requests_total",
            "HTTP requests",
            ["method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "smartseoul_http_request_seconds",
            "HTTP request latency",
            ["method"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = scope["method"]
            self.requests.labels(method, str(status[0])).inc()
            self.latency.labels(method).observe(time.perf_counter() - start)


class RefuseNul:
    """A NUL character (U+0000) in the path or query of a request to the hub or a city
    service is BadRequestData on every backend, as in a hub body (``refuse_nul``):
    PostgreSQL text cannot hold it. Those APIs answer ProblemDetails; the IoT agent and the
    Open Data Plaza, which have their own error shapes, treat such names as unknown."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]):
        self.app = app
        self.prefixes = prefixes
        self.below = tuple(p + "/" for p in prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and ("\x00" in scope["path"] or b"%00" in scope["query_string"])
            and (scope["path"] in self.prefixes or scope["path"].startswith(self.below))
        ):
            response = problem_response(BadRequestData(NUL_DETAIL), Request(scope))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class LimitBody:
    """A request body to the hub, a city service, the IoT agent or the CKAN action API
    larger than ``limit`` bytes (``SMARTSEOUL_MAX_BODY_BYTES``) is answered 413 with a
    ProblemDetails body, and is not read: each of them is read whole and parsed whole, so a
    body of a few GB could take the process, and every request in it, down. A body without
    Content-Length is counted as it arrives."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], limit: int):
        self.app = app
        self.prefixes = prefixes
        self.below = tuple(p + "/" for p in prefixes)
        self.limit = limit
        self.problem = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"The request body is larger than {limit} bytes, the most this "
                "server reads (SMARTSEOUL_MAX_BODY_BYTES)",
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path in self.prefixes or path.startswith(self.below)):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    response = Response(self.problem, 413, media_type="application/json")
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HttpStatusOnly(413, orjson.loads(self.problem))
            return message

        await self.app(scope, counted, send)


async def sweep_expired(broker: Broker, every: float) -> None:
    """Remove expired entities and attributes every ``every`` seconds (clause 4.22)."""
    while True:
        await asyncio.sleep(every)
        try:
            while await broker.expire(limit=500) == 500:  # a full page: look again at once
                pass
        except Exception:  # a failed sweep is logged; the next one tries again
            log.exception("sweep for expired entities failed")


_GC_SETTLED = False


def settle_garbage_collector() -> None:
    """Keep the cycle collector's full passes off the request path (once per process).

    With the default thresholds a busy worker ran a full collection every second or so,
    each one walking every object the process holds (modules, caches, the device
    registry): 60-90 ms pauses of the event loop, measured in bench/ingest.py, which
    showed in the notification latency tail. Objects alive after startup are moved out
    of the collector's sight (``gc.freeze``) and the young generation is made larger,
    so full passes are rarer and shorter; reference counting still frees all
    non-cyclic garbage at once.
    """
    global _GC_SETTLED
    if _GC_SETTLED:
        return
    _GC_SETTLED = True
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> Starlette:
    settings = settings or Settings()
    store = store or make_store(settings)
    registry = CollectorRegistry()
    sizes = Gauge("smartseoul_store_rows", "Rows in the store", ["table"], registry=registry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        app.state.resolver = ContextResolver(store, settings)
        # Subscriptions: the feed queues notifications inside each write's transaction and
        # the notifier delivers them (clauses 5.8, 5.11); it also sets the broker's feed.
        app.state.notifier = await start_notifications(
            app,
            timeout=settings.notify_timeout,
            backoff=settings.notify_retry_backoff,
            max_backoff=settings.notify_retry_max_backoff,
        )
        # The IoT agent: device readings over HTTP (/iot) and, when configured, MQTT.
        app.state.iot_agent = await start_iot_agent(
            app,
            mqtt_url=settings.iot_mqtt_url or None,
            store_location=store.location(),
            session_dir=settings.data_dir / "mqtt",
            session_expiry=settings.iot_mqtt_session_expiry,
        )
        sweeper = (
            asyncio.create_task(sweep_expired(app.state.broker, settings.expiry_interval))
            if settings.expiry_interval > 0
            else None
        )
        settle_garbage_collector()
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await app.state.iot_agent.stop()
            await app.state.notifier.stop()
            await app.state.resolver.close()
            await store.close()

    async def health(request: Request) -> Response:
        # A probe may call this every few seconds: one trivial query, no counting.
        await store.ping()
        return Response(
            orjson.dumps({"status": "ok", "version": __version__, "backend": store.dialect}),
            media_type="application/json",
        )

    counted = {"at": float("-inf")}

    async def metrics(request: Request) -> Response:
        # Store sizes are exact counts (whole indexes read): at most one a STATS_EVERY.
        now = time.monotonic()
        if now - counted["at"] >= STATS_EVERY:
            counted["at"] = now
            for table, count in (await store.stats()).items():
                sizes.labels(table).set(count)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount(API_ROOT, routes=hub_routes()),
        Mount("/iot", routes=iot_routes),
        *service_routes(),  # /flood, ... (services/__init__.py)
        *web_routes(),  # the operations map at / and /web/... (web/routes.py)
    ]
    # Open data: catalog page, downloads, CKAN API; the Seoul OpenAPI's /{KEY}/{TYPE}/{SERVICE}
    # paths match any three segments, so these stay the last routes.
    routes += opendata_routes()
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            NgsiError: ngsi_error,
            HttpStatusOnly: status_only,
            HTTPException: http_error,
            Exception: internal_error,
        },
    )
    app.state.settings = settings
    app.state.store = store
    app.state.broker = Broker(store)
    install_hub_auth(app, settings, prefix=API_ROOT)  # SMARTSEOUL_AUTH=on only
    services = tuple(f"/{name}" for name in service_names())
    app.add_middleware(RefuseNul, prefixes=(API_ROOT, *services))
    # The CKAN action API is public too; the Open Data Plaza's file uploads have their own
    # limit (SMARTSEOUL_OPENDATA_MAX_UPLOAD_MB) and its admin routes check the key first.
    app.add_middleware(
        LimitBody,
        prefixes=(API_ROOT, "/iot", "/api/3/action", *services),
        limit=settings.max_body_bytes,
    )
    app.add_middleware(CatchErrors)  # errors of all the above, counted by Metrics as 500s
    app.add_middleware(Metrics, registry=registry)
    return app
