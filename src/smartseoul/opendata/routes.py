"""Thin HTTP routes: the catalog page, downloads, admin, CKAN's Action API, the Seoul OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from smartseoul.opendata import seoul_api
from smartseoul.opendata.catalog import CatalogError, Dataset, NotFound, parse_dataset
from smartseoul.opendata.ckan import Ckan, CkanError
from smartseoul.opendata.downloads import FORMATS, UnknownFormat, writer_for
from smartseoul.opendata.keys import ApiKey, KeyError_, LimitExceeded
from smartseoul.opendata.plaza import Plaza, plaza_of
from smartseoul.opendata.views import ViewError, open_table

STATIC = Path(__file__).parent / "static"
CKAN_HELP = "/api/3/action/help_show?name="


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, headers=headers,
                    media_type="application/problem+json")  # fmt: skip


def json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def key_of(request: Request) -> str:
    """The API key from ``Authorization: Bearer``, ``X-API-Key`` or a ``key`` parameter."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("key") or ""


async def optional_key(request: Request, plaza: Plaza) -> ApiKey | None:
    """A given key must be valid and within its limits; no key is anonymous use."""
    key = key_of(request)
    if not key:
        return None
    record = await plaza.key(key)
    if record is None:
        raise _Refusal(problem(401, "Unauthorized", "the API key is unknown or revoked",
                               {"WWW-Authenticate": "Bearer"}))  # fmt: skip
    try:
        await plaza.keys.consume(record)
    except LimitExceeded as exc:
        raise _Refusal(
            problem(429, "Too Many Requests", str(exc), {"Retry-After": str(exc.retry_after)})
        ) from None
    return record


class _Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


async def admin_key(request: Request) -> ApiKey:
    record = await plaza_of(request.app).key(key_of(request))
    if record is None:
        raise _Refusal(problem(401, "Unauthorized", "admin endpoints need an admin API key",
                               {"WWW-Authenticate": "Bearer"}))  # fmt: skip
    if record.role != "admin":
        raise _Refusal(problem(403, "Forbidden", f"key {record.id} has role {record.role}, not admin"))
    return record


def within(record: ApiKey, tenants: set[str], what: str) -> None:
    """An admin key acts on its own tenant only (every tenant for ``*``): else it could
    issue itself a key for all tenants, or publish another tenant's data."""
    outside = sorted(t for t in tenants if not record.allows("admin", t))
    if outside:
        raise _Refusal(problem(
            403, "Forbidden",
            f"key {record.id} is admin of tenant {record.tenant!r} only, not of "
            f"{', '.join(repr(t) for t in outside)}: it cannot {what}",
        ))  # fmt: skip


def view_tenants(dataset: Dataset) -> set[str]:
    """The hub tenants a dataset's live views read."""
    return {r.query.tenant for r in dataset.resources if r.query is not None}


async def published_tenants(catalog: Any, name: str) -> set[str]:
    """The tenants the views of dataset ``name`` read, as published now (none if no such)."""
    try:
        return view_tenants(await catalog.get(name))
    except NotFound:
        return set()


def guarded(handler: Any) -> Any:
    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except _Refusal as refusal:
            return refusal.response

    run.__doc__ = handler.__doc__
    return run


# --- catalog page and downloads -------------------------------------------------------


async def page(request: Request) -> Response:
    """The catalog page (Korean and English)."""
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


@guarded
async def download(request: Request) -> Response:
    """Download a resource: its file, or its rows as CSV, JSON, GeoJSON, Parquet or XLSX."""
    plaza = plaza_of(request.app)
    name, rid = request.path_params["name"], request.path_params["rid"]
    try:
        dataset = await plaza.catalog.get(name)
        resource = dataset.resource(rid)
    except NotFound as exc:
        return problem(404, "Not Found", str(exc))
    fmt = request.query_params.get("format", "").lower()
    if fmt and fmt not in FORMATS:
        return problem(400, "Bad Request", str(UnknownFormat(fmt)))
    record = await optional_key(request, plaza)
    key_id = record.id if record else ""
    if resource.kind == "file" and not fmt:
        try:
            content, filename, media_type = await plaza.catalog.get_file(rid)
        except NotFound as exc:
            return problem(404, "Not Found", str(exc))
        await plaza.keys.record_usage(dataset=name, key_id=key_id, api="download", rows=0)
        return Response(content, media_type=media_type, headers=_attachment(filename))
    fmt = fmt or "csv"
    try:
        table = await open_table(plaza.env(), dataset, resource)
    except NotFound as exc:  # a file resource whose file was never uploaded
        return problem(404, "Not Found", str(exc))
    except CatalogError as exc:
        return problem(400, "Bad Request", str(exc))
    except ViewError as exc:
        return problem(502, "Bad Gateway", str(exc))
    bom = request.query_params.get("bom", "").lower() in ("1", "true", "yes")
    writer = writer_for(fmt)
    media_type, extension = FORMATS[fmt]
    counted = _Counted(table)
    body = writer(counted, bom=bom) if fmt == "csv" else writer(counted)

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in body:
                yield chunk
        finally:
            await plaza.keys.record_usage(dataset=name, key_id=key_id, api="download",
                                          rows=counted.rows)  # fmt: skip

    return StreamingResponse(
        stream(), media_type=media_type, headers=_attachment(f"{rid}.{extension}")
    )


class _Counted:
    """A table that counts the rows read through it."""

    def __init__(self, table: Any):
        self.table, self.rows = table, 0
        self.columns, self.geometry = table.columns, table.geometry

    async def pages(self, offset: int = 0, limit: int | None = None) -> AsyncIterator[Any]:
        async for page in self.table.pages(offset, limit):
            self.rows += len(page)
            yield page


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}


# --- admin ----------------------------------------------------------------------------


@guarded
async def issue_key(request: Request) -> Response:
    """Issue an API key (admin); the key itself is shown only in this answer."""
    issuer = await admin_key(request)
    body = await _body(request)
    within(issuer, {str(body.get("tenant", ""))}, "issue keys for it")
    try:
        key, record = await plaza_of(request.app).keys.issue(
            str(body.get("owner", "")),
            role=str(body.get("role", "reader")),
            tenant=str(body.get("tenant", "")),
            daily_quota=body.get("daily_quota"),
            rate_limit=body.get("rate_limit"),
        )
    except KeyError_ as exc:
        return problem(400, "Bad Request", str(exc))
    return json({"key": key, **record.public()}, 201)


@guarded
async def list_keys(request: Request) -> Response:
    """Every key (ids, owners, roles, limits; never the keys themselves)."""
    admin = await admin_key(request)
    keys = await plaza_of(request.app).keys.list_keys()
    return json([k.public() for k in keys if admin.allows("admin", k.tenant)])


@guarded
async def revoke_key(request: Request) -> Response:
    """Revoke a key by its id."""
    admin = await admin_key(request)
    keys = plaza_of(request.app).keys
    key_id = request.path_params["id"]
    # Keys of other tenants are not this admin's to see: the same 404 as for no key.
    mine = any(
        k.id == key_id and admin.allows("admin", k.tenant) for k in await keys.list_keys()
    )
    if not mine or not await keys.revoke(key_id):
        return problem(404, "Not Found", f"no live key with id {key_id}")
    return Response(status_code=204)


@guarded
async def put_dataset(request: Request) -> Response:
    """Create or replace a dataset (JSON body: the dataset description)."""
    admin = await admin_key(request)
    body = await _body(request)
    body.setdefault("name", request.path_params["name"])
    if body["name"] != request.path_params["name"]:
        return problem(400, "Bad Request", "name: the body's name differs from the URL's")
    catalog = plaza_of(request.app).catalog
    try:
        dataset = parse_dataset(body)
        within(admin, view_tenants(dataset), "publish its data")
        within(admin, await published_tenants(catalog, dataset.name), "replace its views")
        dataset = await catalog.put_dataset(dataset)
    except CatalogError as exc:
        return problem(400, "Bad Request", str(exc))
    return json(dataset.model_dump(), 200)


@guarded
async def delete_dataset(request: Request) -> Response:
    """Delete a dataset, its resources and files."""
    admin = await admin_key(request)
    catalog = plaza_of(request.app).catalog
    within(admin, await published_tenants(catalog, request.path_params["name"]), "delete its views")
    if not await catalog.delete_dataset(request.path_params["name"]):
        return problem(404, "Not Found", f"no dataset named {request.path_params['name']}")
    return Response(status_code=204)


@guarded
async def upload_file(request: Request) -> Response:
    """Upload the file of a file resource (the request body; ?filename=...)."""
    await admin_key(request)
    plaza = plaza_of(request.app)
    limit = plaza.settings.opendata_max_upload_mb * 1024 * 1024
    content = bytearray()
    async for chunk in request.stream():
        content.extend(chunk)
        if len(content) > limit:
            return problem(413, "Payload Too Large", f"files are limited to {limit} bytes")
    filename = request.query_params.get("filename") or f"{request.path_params['rid']}.csv"
    media_type = request.headers.get("content-type", "application/octet-stream")
    try:
        resource = await plaza.catalog.put_file(
            request.path_params["rid"], bytes(content), filename=filename, media_type=media_type
        )
    except NotFound as exc:
        return problem(404, "Not Found", str(exc))
    except CatalogError as exc:
        return problem(400, "Bad Request", str(exc))
    return json(resource.model_dump())


@guarded
async def usage(request: Request) -> Response:
    """Usage statistics per day, dataset, key and API."""
    await admin_key(request)
    params = request.query_params
    return json(
        await plaza_of(request.app).keys.usage(
            since=params.get("since", ""), dataset=params.get("dataset", ""),
            key_id=params.get("key", ""),
        )  # fmt: skip
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise _Refusal(problem(400, "Bad Request", "the body is not valid JSON")) from None
    if not isinstance(body, dict):
        raise _Refusal(problem(400, "Bad Request", "the body must be a JSON object"))
    return body


# --- CKAN and Seoul -------------------------------------------------------------------


async def ckan_action(request: Request) -> Response:
    """A CKAN Action API call (GET parameters or a POST JSON body)."""
    name = request.path_params["action"]
    plaza = plaza_of(request.app)
    help_url = f"{plaza.settings.public_base_url}{CKAN_HELP}{name}"
    try:
        if request.method == "POST":
            params = await _body(request)
        else:
            params = dict(request.query_params)
        record = await optional_key(request, plaza)
        ckan = Ckan(plaza, plaza.settings.public_base_url)
        result = await ckan.action(name)(params)
    except CkanError as exc:
        body = {"help": help_url, "success": False, "error": exc.error()}
        return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json")
    except _Refusal as refusal:
        status = refusal.response.status_code
        kinds = {400: "Bad Request", 401: "Authorization Error", 403: "Authorization Error"}
        kind = kinds.get(status, "Too Many Requests")
        detail = orjson.loads(bytes(refusal.response.body))["detail"]
        body = {"help": help_url, "success": False, "error": {"__type": kind, "message": detail}}
        return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                        headers={k: v for k, v in refusal.response.headers.items()
                                 if k.lower() == "retry-after"})  # fmt: skip
    if name == "datastore_search":
        dataset, _ = await plaza.catalog.resource(result["resource_id"])
        await plaza.keys.record_usage(
            dataset=dataset.name, key_id=record.id if record else "", api="datastore",
            rows=len(result["records"]),
        )  # fmt: skip
    return json({"help": help_url, "success": True, "result": result})


async def seoul(request: Request) -> Response:
    """The Seoul OpenAPI: /{KEY}/{json|xml}/{SERVICE}/{START_INDEX}/{END_INDEX}/[filters]."""
    params = request.path_params
    rest = [p for p in params.get("rest", "").split("/")] if params.get("rest") else []
    plaza = plaza_of(request.app)
    if params["fmt"].lower() not in seoul_api.FORMATS and params["service"] not in set(
        await plaza.catalog.names()
    ):
        raise HTTPException(404)  # not a Seoul OpenAPI call at all
    answer = await seoul_api.answer(plaza, params["key"], params["fmt"], params["service"], rest)
    return Response(answer.body(), status_code=answer.status, media_type=answer.media_type,
                    headers=answer.headers)  # fmt: skip


def routes() -> list[BaseRoute]:
    """The open-data routes; the Seoul OpenAPI's catch-all paths must stay last in the app."""
    return [
        Mount("/opendata", routes=[
            Route("/", page, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=STATIC), name="opendata-static"),
            Route("/datasets/{name}/resources/{rid}/download", download, methods=["GET"]),
            Route("/admin/keys", issue_key, methods=["POST"]),
            Route("/admin/keys", list_keys, methods=["GET"]),
            Route("/admin/keys/{id}", revoke_key, methods=["DELETE"]),
            Route("/admin/datasets/{name}", put_dataset, methods=["PUT"]),
            Route("/admin/datasets/{name}", delete_dataset, methods=["DELETE"]),
            Route("/admin/resources/{rid}/file", upload_file, methods=["PUT"]),
            Route("/admin/usage", usage, methods=["GET"]),
        ]),
        Route("/opendata", lambda r: RedirectResponse("/opendata/"), methods=["GET"]),
        Route("/api/3/action/{action}", ckan_action, methods=["GET", "POST"]),
        Route("/{key}/{fmt}/{service}", seoul, methods=["GET"]),
        Route("/{key}/{fmt}/{service}/{rest:path}", seoul, methods=["GET"]),
    ]  # fmt: skip
