"""HTTP routes of the IoT agent, mounted at ``/iot``: device payloads, provisioning, stats.

Thin adapters over :class:`~smartseoul.ingest.iot_agent.IotAgent` (``app.state.iot_agent``).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smartseoul.hub.api.common import refuse_nul, tenant_of
from smartseoul.hub.errors import BadRequestData
from smartseoul.ingest.devices import Device, DeviceSpecError, device_entity, device_from_spec
from smartseoul.ingest.iot_agent import IotAgent, Receipt

__all__ = ["routes"]

# Refusals of a whole message, as HTTP statuses.
_REFUSED_STATUS = {"unknown_device": 404, "wrong_apikey": 403, "payload_too_large": 413}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _problem(status: int, title: str, detail: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return _json(body, status)


def _agent(request: Request) -> IotAgent:
    agent: IotAgent = request.app.state.iot_agent
    return agent


def _receipt_response(receipt: Receipt) -> Response:
    body = receipt.as_dict()
    if receipt.refused:
        return _json(body, _REFUSED_STATUS.get(receipt.refused, 400))
    if receipt.accepted == 0:
        # Nothing stored: the hub's fault (retry later) or the message's (fix it).
        unstored = any(r.reason == "write_failed" for r in receipt.rejections)
        return _json(body, 503 if unstored else 400)
    return _json(body)


async def _ingest(request: Request, apikey: str, device_id: str) -> Response:
    body = await request.body()
    receipt = await _agent(request).handle(
        apikey, device_id, body, content_type=request.headers.get("content-type")
    )
    return _receipt_response(receipt)


async def post_attrs(request: Request) -> Response:
    """Measurements of one device: JSON or UltraLight 2.0 text."""
    params = request.path_params
    return await _ingest(request, params["apikey"], params["device_id"])


async def post_ultralight(request: Request) -> Response:
    """Measurements in the FIWARE UltraLight southbound form ``/iot/d?k={apikey}&i={device}``."""
    apikey, device_id = request.query_params.get("k"), request.query_params.get("i")
    if not apikey or not device_id:
        return _problem(400, "Bad request", "query parameters k (apikey) and i (device) required")
    return await _ingest(request, apikey, device_id)


async def provision_devices(request: Request) -> Response:
    """Provision one device (an object) or several (a list or ``{"devices": [...]}``)."""
    raw = await request.body()
    try:
        spec = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        return _problem(400, "Invalid JSON", str(err))
    try:
        refuse_nul(raw, spec)  # PostgreSQL cannot store it: a 500 there, not a 400
    except BadRequestData as err:
        return _problem(400, "Invalid device", err.detail)
    specs = spec.get("devices", spec) if isinstance(spec, dict) else spec
    specs = specs if isinstance(specs, list) else [specs]
    tenant = tenant_of(request)
    try:
        devices = [device_from_spec(s, tenant=tenant) for s in specs]
        await _agent(request).provision(devices)
    except DeviceSpecError as err:
        return _problem(400, "Invalid device", str(err))
    return _json({"provisioned": [d.urn for d in devices]}, 201)


def _view(device: Device) -> dict[str, Any]:
    entity = device_entity(device)
    entity.pop("apikey")  # listing devices must not leak their keys
    if device.last_seen:
        entity["dateLastValueReported"] = {"type": "Property", "value": device.last_seen}
    if device.silent_since:
        entity["silentSince"] = {"type": "Property", "value": device.silent_since}
    return entity


async def list_devices(request: Request) -> Response:
    """The devices this agent knows in the request's tenant."""
    tenant = tenant_of(request)
    return _json([_view(d) for d in _agent(request).registry if d.tenant == tenant])


async def get_device(request: Request) -> Response:
    """One device as this agent knows it (apikey omitted)."""
    device_id = request.path_params["device_id"]
    device = await _agent(request).registry.lookup(device_id.removeprefix("urn:ngsi-ld:Device:"))
    if device is None or device.tenant != tenant_of(request):
        return _problem(404, "Not found", f"no device {device_id!r}")
    return _json(_view(device))


async def delete_device(request: Request) -> Response:
    """Deprovision a device: its Device entity is deleted, its messages refused from now."""
    device_id = request.path_params["device_id"].removeprefix("urn:ngsi-ld:Device:")
    if not await _agent(request).deprovision(device_id, tenant=tenant_of(request)):
        return _problem(404, "Not found", f"no device {device_id!r}")
    return Response(status_code=204)


async def stats(request: Request) -> Response:
    """Counters: messages, accepted measurements, rejections by reason, writes."""
    agent = _agent(request)
    return _json(agent.stats.as_dict(agent.device_states()))


async def metrics(request: Request) -> Response:
    """The same counters in the Prometheus text format."""
    agent = _agent(request)
    return PlainTextResponse(
        agent.stats.prometheus(agent.device_states()),
        media_type="text/plain; version=0.0.4; charset=utf-8",
    )


routes = [
    Route("/devices", provision_devices, methods=["POST"]),
    Route("/devices", list_devices, methods=["GET"]),
    Route("/devices/{device_id}", get_device, methods=["GET"]),
    Route("/devices/{device_id}", delete_device, methods=["DELETE"]),
    Route("/stats", stats, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/d", post_ultralight, methods=["POST"]),
    Route("/{apikey}/{device_id}/attrs", post_attrs, methods=["POST"]),
]
"""Routes to mount at ``/iot``."""
