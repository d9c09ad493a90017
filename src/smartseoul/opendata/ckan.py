"""A subset of CKAN's Action API (v3), so harvesters and catalogues can read the catalog.

Actions take plain parameters and return the ``result`` of CKAN's ``{"success": true,
"result": ...}`` envelope, or raise :class:`CkanError`, which carries CKAN's error object
(``{"__type": "Not Found Error", "message": ...}``) and HTTP status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from smartseoul.opendata.catalog import (
    LICENSES,
    CatalogError,
    Dataset,
    NotFound,
    Resource,
    search,
)
from smartseoul.opendata.plaza import Plaza
from smartseoul.opendata.views import ViewError, open_table

MAX_SEARCH_ROWS = 1000
DATASTORE_DEFAULT_LIMIT = 100
DATASTORE_MAX_LIMIT = 32000
SORT_MAX_ROWS = 100_000


class CkanError(Exception):
    def __init__(self, kind: str, message: str, *, status: int, field: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.status, self.field = kind, message, status, field

    def error(self) -> dict[str, Any]:
        if self.kind == "Validation Error":
            return {"__type": self.kind, self.field or "message": [self.message]}
        return {"__type": self.kind, "message": self.message}


def not_found(message: str) -> CkanError:
    return CkanError("Not Found Error", message, status=404)


def invalid(field: str, message: str) -> CkanError:
    return CkanError("Validation Error", message, status=409, field=field)


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def resource_dict(resource: Resource, base: str) -> dict[str, Any]:
    url = f"{base}/opendata/datasets/{resource.dataset}/resources/{resource.id}/download"
    fmt = resource.format or ("CSV" if resource.kind == "query" else "")
    return {
        "id": resource.id,
        "package_id": resource.dataset,
        "name": resource.name.ko or resource.name.en,
        "name_en": resource.name.en,
        "description": resource.description.ko if resource.description else "",
        "description_en": resource.description.en if resource.description else "",
        "format": fmt,
        "url": url if resource.kind == "file" else url + "?format=csv",
        "mimetype": resource.media_type or None,
        "size": resource.size,
        "position": resource.position,
        "datastore_active": True,
        "resource_type": "api" if resource.kind == "query" else "file.upload",
        "state": "active",
    }


def package_dict(dataset: Dataset, base: str) -> dict[str, Any]:
    licence = LICENSES[dataset.license_id]
    extras = {
        "title_en": dataset.title.en,
        "notes_en": dataset.description.en,
        "publisher_name": dataset.publisher,
        "spatial_text": dataset.spatial,
        "temporal_start": dataset.temporal.start,
        "temporal_end": dataset.temporal.end,
        "frequency": dataset.frequency,
        "theme": ",".join(dataset.themes),
        "contact_name": dataset.contact.name,
        "contact_email": dataset.contact.email,
        "attribution": dataset.attribution,
        "seoul_openapi": f"{base}/KEY/json/{dataset.name}/1/5/",
    }
    return {
        "id": dataset.name,
        "name": dataset.name,
        "title": dataset.title.ko or dataset.title.en,
        "notes": dataset.description.ko or dataset.description.en,
        "type": "dataset",
        "state": "active",
        "private": False,
        "license_id": dataset.license_id,
        "license_title": licence["title"],
        "license_url": licence["url"],
        "author": dataset.publisher,
        "maintainer": dataset.contact.name,
        "maintainer_email": dataset.contact.email,
        "owner_org": dataset.organization,
        "organization": {"name": dataset.organization, "title": dataset.publisher},
        "tags": [{"name": k, "display_name": k} for k in dataset.keywords],
        "groups": [{"name": t, "title": t} for t in dataset.themes],
        "metadata_created": _time(dataset.created_at),
        "metadata_modified": _time(dataset.modified_at),
        "url": f"{base}/opendata/#/dataset/{dataset.name}",
        "num_resources": len(dataset.resources),
        "num_tags": len(dataset.keywords),
        "resources": [resource_dict(r, base) for r in dataset.resources],
        "extras": [{"key": k, "value": v} for k, v in extras.items() if v],
    }


def _int(params: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid(name, "Invalid integer") from None
    if not low <= value <= high:
        raise invalid(name, f"Must be between {low} and {high}")
    return value


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not value or not isinstance(value, str):
        raise invalid(name, "Missing value")
    return value


class Ckan:
    """The actions, over one Plaza; ``base`` is the public URL used in links."""

    def __init__(self, plaza: Plaza, base: str):
        self.plaza, self.base = plaza, base

    def action(self, name: str) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        actions = {
            "package_list": self.package_list,
            "package_search": self.package_search,
            "package_show": self.package_show,
            "resource_show": self.resource_show,
            "organization_list": self.organization_list,
            "datastore_search": self.datastore_search,
        }
        if name not in actions:
            raise CkanError(
                "Bad Request", f"Action name not known: {name}; one of {', '.join(actions)}",
                status=400,
            )  # fmt: skip
        return actions[name]

    async def package_list(self, params: dict[str, Any]) -> list[str]:
        names = await self.plaza.catalog.names()
        offset = _int(params, "offset", 0, low=0, high=10**9)
        limit = _int(params, "limit", len(names), low=0, high=10**9)
        return names[offset : offset + limit]

    async def package_search(self, params: dict[str, Any]) -> dict[str, Any]:
        rows = _int(params, "rows", 10, low=0, high=MAX_SEARCH_ROWS)
        start = _int(params, "start", 0, low=0, high=10**9)
        try:
            found = search(
                await self.plaza.catalog.datasets(),
                q=str(params.get("q") or ""),
                fq=str(params.get("fq") or ""),
                sort=str(params.get("sort") or ""),
            )
        except CatalogError as exc:
            raise invalid(exc.field or "q", str(exc)) from None
        return {
            "count": len(found),
            "sort": params.get("sort") or "name asc",
            "results": [package_dict(d, self.base) for d in found[start : start + rows]],
            "facets": {},
            "search_facets": {},
        }

    async def package_show(self, params: dict[str, Any]) -> dict[str, Any]:
        name = _required(params, "id")
        try:
            dataset = await self.plaza.catalog.get(name)
        except NotFound:
            raise not_found("Not found") from None
        return package_dict(dataset, self.base)

    async def resource_show(self, params: dict[str, Any]) -> dict[str, Any]:
        rid = _required(params, "id")
        try:
            _, resource = await self.plaza.catalog.resource(rid)
        except NotFound:
            raise not_found("Resource was not found.") from None
        return resource_dict(resource, self.base)

    async def organization_list(self, params: dict[str, Any]) -> list[Any]:
        orgs = await self.plaza.catalog.organizations()
        if str(params.get("all_fields", "")).lower() in ("true", "1"):
            return [
                {"name": o["name"], "title": o.get("title", o["name"]),
                 "package_count": o["package_count"]}  # fmt: skip
                for o in orgs
            ]
        return [o["name"] for o in orgs]

    async def datastore_search(self, params: dict[str, Any]) -> dict[str, Any]:
        rid = _required(params, "resource_id")
        limit = _int(params, "limit", DATASTORE_DEFAULT_LIMIT, low=0, high=DATASTORE_MAX_LIMIT)
        offset = _int(params, "offset", 0, low=0, high=10**12)
        filters = params.get("filters") or {}
        if isinstance(filters, str):
            try:
                filters = orjson.loads(filters)
            except orjson.JSONDecodeError:
                raise invalid("filters", "Invalid JSON object") from None
        if not isinstance(filters, dict):
            raise invalid("filters", "Must be a JSON object")
        try:
            dataset, resource = await self.plaza.catalog.resource(rid)
        except NotFound:
            raise not_found(f"Resource \"{rid}\" was not found.") from None
        try:
            table = await open_table(
                self.plaza.env(), dataset, resource,
                filters={str(k): _filter_values(v) for k, v in filters.items()},
                text=str(params.get("q") or ""),
            )  # fmt: skip
        except NotFound as exc:  # a file resource whose file was never uploaded
            raise not_found(str(exc)) from None
        except CatalogError as exc:
            raise invalid(exc.field or "filters", str(exc)) from None
        except ViewError as exc:
            raise CkanError("Internal Server Error", str(exc), status=500) from None
        fields = _fields(params.get("fields"), table.columns)
        sort = _sort(params.get("sort"), table.columns)
        total = await table.count()
        if sort:
            if total > SORT_MAX_ROWS:
                raise invalid("sort", f"sorting is available up to {SORT_MAX_ROWS} rows")
            rows = [(n + 1, r) async for page in table.pages() for n, r in enumerate(page)]
            rows = _sorted_rows(rows, sort)[offset : offset + limit]
        else:
            rows, n = [], offset
            async for page in table.pages(offset, limit):
                for row in page:
                    n += 1
                    rows.append((n, row))
        at = [table.columns.index(f) for f in fields]
        records = [{"_id": n, **{f: row[i] for f, i in zip(fields, at, strict=True)}} for n, row in rows]
        path = "/api/3/action/datastore_search"
        return {
            "resource_id": rid,
            "fields": [{"id": "_id", "type": "int"}]
            + [{"id": f, "type": _column_type([r[f] for r in records])} for f in fields],
            "records": records,
            "total": total,
            "limit": limit,
            "offset": offset,
            **({"sort": params.get("sort")} if sort else {}),
            "_links": {
                "start": f"{path}?resource_id={rid}&limit={limit}",
                "next": f"{path}?resource_id={rid}&limit={limit}&offset={offset + limit}",
            },
        }


def _filter_values(value: Any) -> tuple[str, ...]:
    """The texts a filter lets through: CKAN takes a list as any of its values, and null
    as a cell with no value."""
    if isinstance(value, list):
        return tuple(_filter_text(v) for v in value)
    return (_filter_text(value),)


def _filter_text(value: Any) -> str:
    if value is None:
        return ""  # how an empty cell reads (views._text)
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return orjson.dumps(value).decode() if isinstance(value, dict | list | bool) else str(value)


def _fields(raw: Any, columns: list[str]) -> list[str]:
    if not raw:
        return list(columns)
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(f, str) for f in names):
        raise invalid("fields", "Must be a comma-separated string or a list of strings")
    names = [f.strip() for f in names]
    for name in names:
        if name not in columns:
            raise invalid("fields", f"field \"{name}\" not in table; columns: {', '.join(columns)}")
    return names


def _sort(raw: Any, columns: list[str]) -> list[tuple[int, bool]]:
    out = []
    for part in str(raw or "").split(","):
        if not part.strip():
            continue
        name, _, order = part.strip().strip('"').partition(" ")
        name = name.strip('"')
        order = order.strip().lower() or "asc"
        if name not in columns or order not in ("asc", "desc"):
            raise invalid("sort", f"cannot sort by {part.strip()!r}; columns: {', '.join(columns)}")
        out.append((columns.index(name), order == "desc"))
    return out


def _sorted_rows(rows: list[tuple[int, Any]], sort: list[tuple[int, bool]]) -> list[tuple[int, Any]]:
    for index, desc in reversed(sort):
        # None last in either order; numbers before text.

        def key(row: tuple[int, Any], i: int = index) -> tuple[int, Any]:
            return _sort_key(row[1][i])

        rows.sort(key=key, reverse=desc)
    return rows


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _column_type(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "numeric"
    if kinds and kinds <= {dict, list}:
        return "json"
    return "text"
