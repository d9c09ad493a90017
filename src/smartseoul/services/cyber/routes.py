"""HTTP routes of the cyber service, under ``/cyber`` (thin: the work is in ``service``).

Errors are ProblemDetails: a bad search or format or a refused status change is 400
InvalidRequest, an unknown incident 404 ResourceNotFound.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import tenant_of
from smartseoul.hub.client import local_client
from smartseoul.hub.errors import InvalidRequest
from smartseoul.services.cyber.incidents import STATUSES, WorkflowError
from smartseoul.services.cyber.parsers import FORMATS
from smartseoul.services.cyber.service import (
    CyberPipeline,
    get_incident,
    list_alerts,
    list_incidents,
    list_risk,
    make_pipeline,
    update_incident,
)
from smartseoul.services.cyber.store import SearchError

__all__ = ["routes"]

_RESERVED = {"start", "end", "q", "limit", "offset"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _pipeline(request: Request) -> CyberPipeline:
    """This app's pipeline (one per worker; the syslog listener runs as ``cyber listen``)."""
    state = request.app.state
    pipeline = getattr(state, "cyber_pipeline", None)
    if pipeline is None:
        pipeline = state.cyber_pipeline = make_pipeline(state.settings, local_client(request.app))
    return pipeline


def _int(request: Request, name: str, default: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= high:
        raise InvalidRequest(f"{name} must be an integer from 0 to {high}")
    return int(text)


async def events(request: Request) -> Response:
    """Search stored security events by time range, field values and free text."""
    params = request.query_params
    store = _pipeline(request).store
    assert store is not None
    filters = {k: v for k, v in params.items() if k not in _RESERVED}
    try:
        found = store.search(start=params.get("start"), end=params.get("end"), filters=filters,
                             text=params.get("q"), limit=_int(request, "limit", 100, 1000),
                             offset=_int(request, "offset", 0, 10**9))  # fmt: skip
    except SearchError as err:
        raise InvalidRequest(str(err)) from None
    return _json(found)


async def ingest(request: Request) -> Response:
    """Ingest log lines (the body) in ``format`` (auto, syslog, eve, zeek, flow)."""
    fmt = request.query_params.get("format", "auto")
    if fmt != "auto" and fmt not in FORMATS:
        raise InvalidRequest(f"format {fmt!r}; valid: auto, {', '.join(FORMATS)}")
    text = (await request.body()).decode("utf-8", "replace")
    source = request.query_params.get("source", request.client.host if request.client else "")
    report = await _pipeline(request).ingest(text.splitlines(), fmt, source=f"http:{source}")
    return _json(report.as_dict())


async def alerts(request: Request) -> Response:
    """Security alerts in the hub, newest first."""
    limit = _int(request, "limit", 1000, 10000)
    return _json(await list_alerts(local_client(request.app), tenant=tenant_of(request), limit=limit))


async def incidents(request: Request) -> Response:
    """Incidents, optionally of one ``status``, most recent activity first."""
    status = request.query_params.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status {status!r}; valid: {', '.join(STATUSES)}")
    return _json(await list_incidents(local_client(request.app), status=status,
                                      tenant=tenant_of(request)))  # fmt: skip


MAX_NOTE = 10_000  # characters of one incident note
MAX_AUTHOR = 200


async def incident(request: Request) -> Response:
    """One incident."""
    return _json(await get_incident(local_client(request.app), request.path_params["id"],
                                    tenant=tenant_of(request)))  # fmt: skip


async def change_incident(request: Request) -> Response:
    """Change an incident's status and/or add a note: ``{"status", "note", "author"}``."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(body, dict) or not ({"status", "note"} & body.keys()):
        raise InvalidRequest("give a status and/or a note")
    for name, longest in (("note", MAX_NOTE), ("author", MAX_AUTHOR)):
        if not isinstance(body.get(name, ""), str | None):  # null is none, not the text "None"
            raise InvalidRequest(f"{name} must be a string, got {body[name]!r}")
        if len(body.get(name) or "") > longest:  # each note stays in the incident entity
            raise InvalidRequest(f"{name} must be at most {longest} characters")
    try:
        updated = await update_incident(
            local_client(request.app), request.path_params["id"], status=body.get("status"),
            note=body.get("note") or "", author=body.get("author") or "",
            tenant=tenant_of(request),
        )  # fmt: skip
    except WorkflowError as err:
        raise InvalidRequest(str(err)) from None
    return _json(updated)


async def risk(request: Request) -> Response:
    """Assets by predicted risk of being breached next, with their top factors."""
    return _json(await list_risk(local_client(request.app), tenant=tenant_of(request)))


routes = [
    Route("/events", events, methods=["GET"]),
    Route("/events", ingest, methods=["POST"]),
    Route("/alerts", alerts, methods=["GET"]),
    Route("/incidents", incidents, methods=["GET"]),
    Route("/incidents/{id}", incident, methods=["GET"]),
    Route("/incidents/{id}", change_incident, methods=["PATCH"]),
    Route("/risk", risk, methods=["GET"]),
]
