"""Thin routes of the operations map: the page at ``/``, its built assets, the base map
boundaries, its settings and the live feed (Server-Sent Events) at ``/web/events``.

The page reads entities and history from the NGSI-LD API itself (``/ngsi-ld/v1``), so
the hub's own rules (tenants, keys) apply to it as to any client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from smartseoul.config import Settings
from smartseoul.datasets import shipped_file
from smartseoul.web.live import ChangeFeed, change_events

STATIC = Path(__file__).parent / "static"
BOUNDARIES = {"gu": "seoul-gu-juso2015.geojson", "dong": "seoul-dong-kostat2013.geojson"}
API_ROOT = "/ngsi-ld/v1"


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, media_type="application/problem+json")


def keyed_reads(settings: Settings) -> bool:
    """Whether reading the default tenant needs an API key (docs/opendata.md)."""
    keyed_tenants = {t.strip() for t in settings.auth_keyed_tenants.split(",")}
    return settings.auth == "on" and (settings.auth_read == "keyed" or "" in keyed_tenants)


async def index(request: Request) -> Response:
    """The operations map (the built single-page app)."""
    page = STATIC / "index.html"
    if not page.is_file():
        return _problem(503, "Map not built", "run scripts/build-web to build the operations map")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


async def config(request: Request) -> Response:
    """The settings the page needs: API root, optional tile URL, whether reads need a key."""
    settings: Settings = request.app.state.settings
    return _json(
        {"api": API_ROOT, "tileUrl": settings.map_tile_url or None,
         "keyedReads": keyed_reads(settings)}
    )  # fmt: skip


async def boundaries(request: Request) -> Response:
    """Shipped boundaries as GeoJSON: ``gu`` (25 districts) or ``dong`` (423 neighbourhoods)."""
    name = BOUNDARIES.get(request.path_params["level"])
    if name is None:
        return _problem(
            404, "Not Found", f"boundaries are gu or dong, not {request.path_params['level']!r}"
        )
    return FileResponse(shipped_file(name), media_type="application/geo+json",
                        headers={"Cache-Control": "max-age=86400"})  # fmt: skip


async def events(request: Request) -> Response:
    """Entities changed in the hub, as Server-Sent Events (``changes``), until the client leaves."""
    app = request.app
    if keyed_reads(app.state.settings) and not await _reader_key(request):
        return _problem(401, "Unauthorized", "this hub needs a reader key: /web/events?key=KEY")
    feed = ChangeFeed(app.state.broker, app.state.resolver)

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for name, data in change_events(feed, disconnected=request.is_disconnected):
            yield b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip


async def _reader_key(request: Request) -> bool:
    from smartseoul.opendata.plaza import plaza_of

    key = request.query_params.get("key", "")
    record = await plaza_of(request.app).key(key) if key else None
    return record is not None and bool(record.allows("reader", ""))


def routes() -> list[BaseRoute]:
    """``/`` and ``/web/...``; mounted before the Seoul OpenAPI's catch-all paths."""
    return [
        Route("/", index, methods=["GET"]),
        Mount(
            "/web",
            routes=[
                Route("/config.json", config, methods=["GET"]),
                Route("/boundaries/{level}.geojson", boundaries, methods=["GET"]),
                Route("/events", events, methods=["GET"]),
                Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False)),
            ],
        ),
    ]
