"""HTTP routes of the flood service, under ``/flood`` (thin: the work is in ``service``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import tenant_of
from smartseoul.hub.client import local_client
from smartseoul.hub.errors import BadRequestData, InvalidRequest, ResourceNotFound
from smartseoul.services.flood.service import current_forecasts, current_warnings

__all__ = ["routes"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _client(request: Request) -> Any:
    """The flood service's hub when it runs here (``flood run``), else the app's own hub."""
    return getattr(request.app.state, "flood_client", None) or local_client(request.app)


async def forecasts(request: Request) -> Response:
    """The current water-level forecast of every gauge (10 to 180 minutes ahead)."""
    return _json(await current_forecasts(_client(request), tenant=tenant_of(request)))


async def gauge(request: Request) -> Response:
    """The current forecast and warning of one gauge, by HRFCO code."""
    code = request.path_params["code"]
    client = _client(request)
    tenant = tenant_of(request)
    found = [f for f in await current_forecasts(client, tenant=tenant) if f.get("code") == code]
    if not found:
        raise ResourceNotFound(f"No forecast for gauge {code}", instance=code)
    alerts = [a for a in await current_warnings(client, tenant=tenant) if a.get("subject") == code]
    return _json({"forecast": found[0], "warning": alerts[0] if alerts else None})


async def warnings(request: Request) -> Response:
    """Flood and inundation alerts in force."""
    return _json(await current_warnings(_client(request), tenant=tenant_of(request)))


async def notify(request: Request) -> Response:
    """Receive hub notifications for the flood service running in this process."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(f"the body is not JSON: {err}") from None
    data = body.get("data", []) if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise BadRequestData("a notification is an object whose data is an array of entities")
    service = getattr(request.app.state, "flood_service", None)
    if service is None:
        detail = "no flood service runs in this process"
        problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                   "detail": detail}  # fmt: skip
        return _json(problem, status=503)
    await service.handle(data)
    return Response(status_code=204)


routes = [
    Route("/forecasts", forecasts, methods=["GET"]),
    Route("/forecasts/{code}", gauge, methods=["GET"]),
    Route("/warnings", warnings, methods=["GET"]),
    Route("/notify", notify, methods=["POST"]),
]
