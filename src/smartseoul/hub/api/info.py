"""GET /info/sourceIdentity: who this broker is (clauses 5.15.1, 5.2.40, 6.33)."""

from __future__ import annotations

import socket
import time
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul import __version__
from smartseoul.hub.api.common import read_call, respond
from smartseoul.hub.entities import now_iso
from smartseoul.hub.errors import NonexistentTenant

STARTED = time.time()  # when this process loaded the API: the uptime counts from here


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration: ``PT1H2M3.5S``; whole days as ``P2DT...``."""
    days, rest = divmod(max(0.0, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date = f"{int(days)}D" if days else ""
    clock = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    clock += f"{secs:.3f}".rstrip("0").rstrip(".") + "S"
    return f"P{date}T{clock}"


async def source_identity(request: Request) -> Response:
    """Retrieve Context Source Identity Information (clause 5.15.1).

    The id is stable for one store on one host (it is derived from both, never random), so
    a client sees the same broker across restarts; ``contextSourceAlias`` tells the tenants
    apart (clause 5.2.40, multi-tenancy).
    """
    call = await read_call(request)
    store = request.app.state.store
    if call.tenant and not await store.tenant_exists(call.tenant):
        raise NonexistentTenant(f"Tenant {call.tenant!r} does not exist", instance=call.tenant)
    base = uuid.uuid5(uuid.NAMESPACE_URL, f"smartseoul:{socket.gethostname()}:{store.location()}")
    alias = uuid.uuid5(base, call.tenant or "@default")
    payload = {
        "id": f"urn:ngsi-ld:ContextSource:{base}",
        "type": "ContextSourceIdentity",
        "contextSourceAlias": f"smartseoul-{alias.hex[:16]}",
        "contextSourceUptime": iso_duration(time.time() - STARTED),
        "contextSourceTimeAt": now_iso(),
        "contextSourceExtras": {
            "software": "smartseoul",
            "version": __version__,
            "store": "postgresql" if store.dialect == "postgres" else "sqlite",
            "tenant": call.tenant or None,
        },
    }
    return respond(call, payload)


routes = [Route("/info/sourceIdentity", source_identity, methods=["GET"])]
