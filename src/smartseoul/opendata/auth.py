"""Keys for the hub: with ``SMARTSEOUL_AUTH=on`` writes need a writer key for the tenant.

An ASGI middleware in front of ``/ngsi-ld/v1``. Reads stay public unless
``SMARTSEOUL_AUTH_READ=keyed`` or the tenant is listed in ``SMARTSEOUL_AUTH_KEYED_TENANTS``.
The hot path costs one SHA-256 and a dictionary lookup: key records are cached per process
for ``SMARTSEOUL_AUTH_CACHE_SECONDS`` (so a revocation reaches other workers within that
time; the worker that revokes forgets at once). Refusals are ProblemDetails, before the
request reaches the hub, so nothing is written.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from smartseoul.hub.errors import NgsiError
from smartseoul.opendata.plaza import plaza_of

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read (clauses 5.7.2 and 5.7.4 via a Query body), below the prefix. Matched
# whole: subscription and context ids may hold "/", so a suffix match would let a DELETE of
# ".../entityOperations/query" through as a read.
READ_POSTS = frozenset({"/entityOperations/query", "/temporal/entityOperations/query"})


class Unauthorized(NgsiError):
    """No valid key (not among V1.9.1's error types: a smartseoul addition)."""

    type_name, status, title = "Unauthorized", 401, "Unauthorized"


class Forbidden(NgsiError):
    """A valid key without the role the request needs on its tenant (a smartseoul addition)."""

    type_name, status, title = "Forbidden", 403, "Forbidden"


def is_write(method: str, path: str) -> bool:
    """Does ``method`` on ``path`` (below the hub's prefix) write?"""
    return method not in SAFE_METHODS and not (method == "POST" and path in READ_POSTS)


class HubAuth:
    """Refuse hub requests without the key their tenant and method need."""

    def __init__(self, app: ASGIApp, *, prefix: str, keyed_read: bool, keyed_tenants: set[str]):
        self.app, self.prefix = app, prefix
        self.keyed_read, self.keyed_tenants = keyed_read, keyed_tenants

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        # The first of repeated headers, as the hub reads them (Starlette's Headers.get):
        # checking another NGSILD-Tenant than the one the hub acts on would let a key for
        # one tenant write to any other.
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.decode("latin-1"), v.decode("latin-1"))
        tenant = headers.get("ngsild-tenant", "")
        write = is_write(scope["method"], scope["path"][len(self.prefix) :])
        if not write and not self.keyed_read and tenant not in self.keyed_tenants:
            await self.app(scope, receive, send)
            return
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth.lower().startswith("bearer ") else headers.get("x-api-key", "")
        record = await plaza_of(scope["app"]).key(key) if key else None
        role = "writer" if write else "reader"
        error: NgsiError | None = None
        if record is None:
            what = "unknown or revoked" if key else "missing"
            error = Unauthorized(
                f"this hub needs an API key (Authorization: Bearer KEY) to "
                f"{'write' if write else 'read'}; the key is {what}"
            )
        elif not record.allows(role, tenant):
            error = Forbidden(
                f"key {record.id} ({record.role} on tenant {record.tenant or 'default'!r}) may not "
                f"{'write' if write else 'read'} tenant {tenant or 'default'!r}: needs {role}"
            )
        if error is None:
            await self.app(scope, receive, send)
            return
        await _refuse(send, error, tenant)


async def _refuse(send: Send, error: NgsiError, tenant: str) -> None:
    body = orjson.dumps(error.problem())
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="smartseoul"'))
    if tenant:
        headers.append((b"ngsild-tenant", tenant.encode("latin-1")))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def install(app: Any, settings: Any, *, prefix: str) -> None:
    """Add the middleware when ``SMARTSEOUL_AUTH=on``; with it off nothing is added."""
    if settings.auth != "on":
        return
    tenants = {t.strip() for t in settings.auth_keyed_tenants.split(",") if t.strip()}
    app.add_middleware(
        HubAuth, prefix=prefix, keyed_read=settings.auth_read == "keyed", keyed_tenants=tenants
    )
