"""What every NGSI-LD route shares: tenant, content negotiation, @context, bodies, responses.

Clauses 6.3.4 (preconditions), 6.3.5 (@context resolution), 6.3.6 (response rules),
6.3.14 (tenant). Kept lean: this runs on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from smartseoul.hub.errors import BadRequestData, HttpStatusOnly, InvalidRequest
from smartseoul.hub.jsonld import CORE_CONTEXT_URL, Context, link_header, parse_link_header
from smartseoul.hub.limits import check_tenant

JSON = "application/json"
LD_JSON = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


@dataclass(slots=True)
class Call:
    """One request, resolved: tenant, active @context, chosen response type, parsed body."""

    tenant: str
    context: Context
    accept: str
    body: Any
    context_source: Any  # what the client gave (URL, list or object), for the response @context
    geo_link: bool = False  # geo+json with "Prefer: body=json": @context in a Link (6.3.6)

    def expand(self, term: str) -> str:
        return self.context.expand(term)

    def compact(self, iri: str) -> str:
        return self.context.compact(iri)


def choose_accept(header: str | None, *, geo: bool = False) -> str:
    """Clause 6.3.4: pick application/json, application/ld+json or (for GETs) geo+json; 406 else."""
    if not header:
        return JSON
    offered = [JSON, LD_JSON] + ([GEO_JSON] if geo else [])
    best, best_q = None, 0.0
    for part in header.split(","):
        fields = part.strip().split(";")
        media = fields[0].strip().lower()
        q = 1.0
        for param in fields[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in ("*/*", "application/*"):
            candidates = offered[:2] if media == "application/*" else offered[:1]
        elif media in offered:
            candidates = [media]
        else:
            continue
        for cand in candidates:
            if q > best_q or (
                q == best_q and best is not None and offered.index(cand) < offered.index(best)
            ):
                best, best_q = cand, q
    if best is None or best_q <= 0:
        raise HttpStatusOnly(406, {"accepted": offered})
    return best


async def read_call(request: Request, *, geo: bool = False, body: bool | None = None) -> Call:
    """Resolve everything a route needs from the request, or raise the spec's error."""
    headers = request.headers
    tenant = tenant_of(request)
    method = request.method
    accept = choose_accept(headers.get("accept"), geo=geo)
    link = headers.get("link")
    payload: Any = None
    source: Any = None
    wants_body = method in BODY_METHODS if body is None else body
    if wants_body:
        ctype = body_media_type(request)
        raw = await request.body()
        if not raw:
            raise InvalidRequest("The request has no body")
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The body is not valid JSON: {exc}") from None
        refuse_nul(raw, payload)
        if ctype == LD_JSON:
            if link and parse_link_header(link):
                raise BadRequestData(
                    "A JSON-LD Link header is not allowed with application/ld+json"
                )
            source = _body_context(payload, required=True)
        else:
            if _has_context(payload):
                raise BadRequestData("@context in the body needs Content-Type application/ld+json")
            source = parse_link_header(link) if link else None
    elif link:
        source = parse_link_header(link)
    context = await request.app.state.resolver.resolve(source)
    geo_link = accept == GEO_JSON and "body=json" in headers.get("prefer", "")
    return Call(tenant, context, accept, payload, source, geo_link)


def body_media_type(request: Request) -> str:
    """Clause 6.3.4 preconditions of a request with a body: its media type, or a bare 411
    (no Content-Length: a chunked body) or a bare 415 (not JSON or JSON-LD)."""
    headers = request.headers
    if "content-length" not in headers:
        raise HttpStatusOnly(411)
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in (JSON, LD_JSON) and not (request.method == "PATCH" and ctype == MERGE_PATCH):
        raise HttpStatusOnly(415)
    return ctype


def add_page_links(
    response: Response, request: Request, call: Call, *, limit: int, offset: int, more: bool
) -> None:
    """Clause 6.3.10 (behaviour 5.5.9.1): ``Link`` rel="prev" on every page of a query but
    the first, rel="next" when more results follow; nothing when ``limit`` is 0."""
    if limit and offset > 0:
        response.headers.append(
            "Link", _page_link(request, call, limit, max(0, offset - limit), "prev")
        )
    if limit and more:
        response.headers.append("Link", _page_link(request, call, limit, offset + limit, "next"))


def _page_link(request: Request, call: Call, limit: int, offset: int, rel: str) -> str:
    """The request's own parameters with ``limit`` and ``offset`` last, ``type`` the media
    type answered."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
    items += [("limit", str(limit)), ("offset", str(offset))]
    return f'<{request.url.path}?{urlencode(items)}>; rel="{rel}"; type="{call.accept}"'


def tenant_of(request: Request) -> str:
    """The ``NGSILD-Tenant`` of a request to the hub, a city service or the IoT agent
    (``''``: the default tenant); BadRequestData for one the stores cannot index."""
    return check_tenant(request.headers.get("ngsild-tenant", ""))


NUL_DETAIL = "The request holds a NUL character (U+0000), which the hub does not store"


def refuse_nul(raw: bytes, payload: Any) -> None:
    """A JSON body with U+0000 in a string is BadRequestData on every backend, since
    PostgreSQL text and jsonb cannot hold it. Only a body whose bytes contain the escape
    is walked, so the common case costs one byte search."""
    if b"\\u0000" in raw and _holds_nul(payload):
        raise BadRequestData(NUL_DETAIL)


def _holds_nul(value: Any) -> bool:
    """A walk with its own stack: orjson reads bodies nested up to 1,024 levels, deeper
    than Python's recursion limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _has_context(payload: Any) -> bool:
    if isinstance(payload, dict):
        return "@context" in payload
    if isinstance(payload, list):
        return any(isinstance(x, dict) and "@context" in x for x in payload)
    return False


def _body_context(payload: Any, *, required: bool) -> Any:
    if isinstance(payload, dict):
        if "@context" in payload:
            return payload["@context"]
    elif isinstance(payload, list):
        # Batch bodies: each entity carries its own @context; the first one is the default.
        for item in payload:
            if isinstance(item, dict) and "@context" in item:
                return item["@context"]
    if required:
        raise BadRequestData("application/ld+json requests must carry an @context in the body")
    return None


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def context_url(call: Call) -> str:
    src = call.context_source
    return src if isinstance(src, str) else CORE_CONTEXT_URL


def respond(
    call: Call, payload: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A body response with the @context as clause 6.3.6 wants it (Link or in-body)."""
    out_headers = dict(headers or {})
    media = call.accept
    if media == JSON or call.geo_link:
        out_headers["Link"] = link_header(context_url(call))
    else:
        ctx_value = call.context_source if call.context_source is not None else CORE_CONTEXT_URL
        if isinstance(payload, dict) and media == LD_JSON:
            payload = {"@context": ctx_value, **payload}
        elif isinstance(payload, list) and media == LD_JSON:
            payload = [
                {"@context": ctx_value, **item} if isinstance(item, dict) else item
                for item in payload
            ]
        elif isinstance(payload, dict) and media == GEO_JSON and not call.geo_link:
            payload = {**payload, "@context": ctx_value}
    if call.tenant:
        out_headers["NGSILD-Tenant"] = call.tenant
    return Response(dumps(payload), status_code=status, headers=out_headers, media_type=media)


def plain_json(
    payload: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    call: Call | None = None,
) -> Response:
    """Errors and 207 results: always application/json, no Link (clause 6.3.6)."""
    if call is not None and call.tenant:
        headers = {**(headers or {}), "NGSILD-Tenant": call.tenant}
    return Response(dumps(payload), status_code=status, headers=headers, media_type=JSON)


def no_content(
    call: Call | None = None, *, status: int = 204, headers: dict[str, str] | None = None
) -> Response:
    out = dict(headers or {})
    if call is not None and call.tenant:
        out["NGSILD-Tenant"] = call.tenant
    response = Response(status_code=status, headers=out)
    return response


def flag_options(request: Request, allowed: frozenset[str] | None = None) -> set[str]:
    """``options`` as a set (clauses 6.3.7, 6.3.11, 6.3.12).

    With ``allowed``, a value the operation does not support is an InvalidRequest
    (clause 6.3.20).
    """
    opts: set[str] = set()
    for value in request.query_params.getlist("options"):
        opts.update(v.strip() for v in value.split(",") if v.strip())
    if allowed is not None and not opts <= allowed:
        raise InvalidRequest(
            f"options {sorted(opts - allowed)} not supported by this operation (clause 6.3.20)"
        )
    return opts


def int_param(
    request: Request,
    name: str,
    default: int | None,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestData(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise BadRequestData(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise BadRequestData(f"{name} must be at most {maximum}, got {value}")
    return value


def offset_param(request: Request) -> int:
    """``offset`` (clause 5.5.9): the stores take it as a 64-bit integer."""
    offset = int_param(request, "offset", 0, maximum=2**63 - 1)
    assert offset is not None
    return offset
