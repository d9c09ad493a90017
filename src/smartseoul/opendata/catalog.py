"""The catalog: datasets with DCAT-AP style metadata and their resources, in the store.

A dataset is published under one ``name``: the Seoul OpenAPI SERVICE and the CKAN package
name. Its resources are *live views* (a hub query: entity type, ``q``, ``attrs``, latest
values or history over a period) or *uploaded files*. Metadata is kept as JSON next to the
hub's tables (``od_datasets``, ``od_resources``, ``od_files``), so every worker sees the same
catalog.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartseoul.hub.entities import parse_time
from smartseoul.hub.errors import NgsiError
from smartseoul.hub.temporal_aggregate import parse_duration
from smartseoul.opendata.db import as_bytes, ensure_schema

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,99}$")

LICENSES: dict[str, dict[str, str]] = {
    "KOGL-1": {"title": "공공누리 제1유형 (출처표시)", "title_en": "KOGL Type 1: attribution",
               "url": "https://www.kogl.or.kr/info/licenseType1.do"},
    "KOGL-2": {"title": "공공누리 제2유형 (출처표시, 상업적 이용금지)",
               "title_en": "KOGL Type 2: attribution, non-commercial",
               "url": "https://www.kogl.or.kr/info/licenseType2.do"},
    "KOGL-3": {"title": "공공누리 제3유형 (출처표시, 변경금지)",
               "title_en": "KOGL Type 3: attribution, no derivatives",
               "url": "https://www.kogl.or.kr/info/licenseType3.do"},
    "KOGL-4": {"title": "공공누리 제4유형 (출처표시, 상업적 이용금지, 변경금지)",
               "title_en": "KOGL Type 4: attribution, non-commercial, no derivatives",
               "url": "https://www.kogl.or.kr/info/licenseType4.do"},
    "CC-BY-4.0": {"title": "Creative Commons Attribution 4.0", "title_en": "CC BY 4.0",
                  "url": "https://creativecommons.org/licenses/by/4.0/"},
    "CC-BY-SA-4.0": {"title": "Creative Commons Attribution-ShareAlike 4.0",
                     "title_en": "CC BY-SA 4.0",
                     "url": "https://creativecommons.org/licenses/by-sa/4.0/"},
    "CC0-1.0": {"title": "CC0 1.0 Public Domain Dedication", "title_en": "CC0 1.0",
                "url": "https://creativecommons.org/publicdomain/zero/1.0/"},
    "other": {"title": "기타 (출처 및 이용조건 참조)", "title_en": "Other: see the attribution",
              "url": ""},
}  # fmt: skip

# Dublin Core / EU frequency vocabulary, as DCAT-AP uses it.
FREQUENCIES = ("continuous", "hourly", "daily", "weekly", "monthly", "quarterly", "annual",
               "irregular", "never")  # fmt: skip


class CatalogError(ValueError):
    """A catalog request the caller can fix; ``field`` names the offending input."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class NotFound(LookupError):
    """No dataset or resource by that name."""


class Text(BaseModel):
    """A text in Korean and English (either may be empty, not both)."""

    model_config = ConfigDict(extra="forbid")
    ko: str = ""
    en: str = ""

    @model_validator(mode="after")
    def _one_language(self) -> Text:
        if not (self.ko or self.en):
            raise ValueError("give the text in Korean (ko), English (en) or both")
        return self

    def pick(self, lang: str) -> str:
        return (self.en or self.ko) if lang == "en" else (self.ko or self.en)


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    email: str = ""
    phone: str = ""


class Temporal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = ""
    end: str = ""


class LiveQuery(BaseModel):
    """A live view: which hub entities, which attributes, latest values or history."""

    model_config = ConfigDict(extra="forbid")
    type: str
    q: str | None = None
    attrs: list[str] = Field(default_factory=list)
    context: str | dict[str, Any] | list[Any] | None = None
    tenant: str = ""
    mode: Literal["latest", "history"] = "latest"
    period: str = Field("P30D", description="History: ISO 8601 duration back from `until`.")
    until: str = Field("", description="History: end of the period (empty: now).")
    start: str = Field("", description="History: explicit start, overrides `period`.")
    layout: Literal["wide", "long"] = "wide"
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Output column -> source (id, type, observedAt, attribute, attribute.key).",
    )
    time_format: str = Field("", description="strftime pattern in Asia/Seoul; empty: ISO UTC.")
    geometry: str = Field("location", description="Attribute holding the GeoJSON geometry.")

    @model_validator(mode="after")
    def _window(self) -> LiveQuery:
        """A history view's period must be readable now, not fail on every request."""
        if self.mode != "history":
            return self
        try:
            end = parse_time(self.until, field="until").timestamp() if self.until else time.time()
            if self.start:
                parse_time(self.start, field="start")
            else:
                parse_duration(self.period, param="period").shift(end, -1)
        except NgsiError as exc:
            raise ValueError(exc.detail) from None
        except (ValueError, OverflowError):
            raise ValueError(f"period: {self.period!r} reaches beyond the calendar") from None
        return self


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = ""
    dataset: str = ""
    name: Text
    description: Text | None = None
    kind: Literal["query", "file"]
    query: LiveQuery | None = None
    format: str = ""
    media_type: str = ""
    filename: str = ""
    size: int | None = None
    position: int = 0

    @model_validator(mode="after")
    def _kind_fields(self) -> Resource:
        if self.kind == "query" and self.query is None:
            raise ValueError("a query resource needs `query` (type, attrs, mode ...)")
        if self.kind == "file" and self.query is not None:
            raise ValueError("a file resource has no `query`")
        return self


class Dataset(BaseModel):
    """DCAT-AP style metadata of one dataset."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: Text
    description: Text
    organization: str = "seoul"
    publisher: str = "서울특별시 (Seoul Metropolitan Government)"
    license_id: str = "KOGL-1"
    keywords: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list)
    spatial: str = "서울특별시 (Seoul)"
    temporal: Temporal = Field(default_factory=Temporal)
    frequency: str = "irregular"
    contact: Contact = Field(default_factory=Contact)
    attribution: str = ""
    seoul_filters: list[str] = Field(
        default_factory=list, description="Columns matched by the OpenAPI's positional filters."
    )
    resources: list[Resource] = Field(default_factory=list)
    created_at: float = 0.0
    modified_at: float = 0.0

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("name: 2-100 letters, digits, '-' or '_', starting with a letter or digit")
        return value

    @field_validator("organization")
    @classmethod
    def _organization(cls, value: str) -> str:
        if "\x00" in value:  # stored as a column of its own: PostgreSQL text cannot hold it
            raise ValueError("may not hold a NUL character (U+0000)")
        return value

    @field_validator("license_id")
    @classmethod
    def _license(cls, value: str) -> str:
        if value not in LICENSES:
            raise ValueError(f"unknown licence {value!r}; one of {', '.join(LICENSES)}")
        return value

    @field_validator("frequency")
    @classmethod
    def _frequency(cls, value: str) -> str:
        if value not in FREQUENCIES:
            raise ValueError(f"unknown frequency {value!r}; one of {', '.join(FREQUENCIES)}")
        return value

    def resource(self, resource_id: str) -> Resource:
        for resource in self.resources:
            if resource.id == resource_id:
                return resource
        raise NotFound(f"dataset {self.name} has no resource {resource_id}")

    def primary(self) -> Resource | None:
        """The resource the Seoul OpenAPI serves: the first one."""
        return self.resources[0] if self.resources else None


def parse_dataset(data: dict[str, Any]) -> Dataset:
    """Validate a dataset description (from YAML, JSON or an admin request)."""
    try:
        dataset = Dataset.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "dataset"
        raise CatalogError(f"{where}: {first['msg']}", field=where) from None
    for n, resource in enumerate(dataset.resources):
        resource.dataset = dataset.name
        resource.position = n
        resource.id = resource.id or f"{dataset.name}-{n + 1}"
        if not NAME.match(resource.id):
            raise CatalogError(f"resources.{n}.id: invalid id {resource.id!r}", field="id")
        if resource.kind == "query" and not resource.format:
            resource.format = "API"
    ids = [r.id for r in dataset.resources]
    if len(set(ids)) != len(ids):
        raise CatalogError("resource ids must be unique", field="resources")
    return dataset


class Catalog:
    """Datasets, resources and uploaded files in one store (SQLite or PostgreSQL)."""

    def __init__(self, store: Any):
        self.store = store

    async def open(self) -> None:
        await ensure_schema(self.store)

    async def put_dataset(self, dataset: Dataset) -> Dataset:
        """Create or replace a dataset and its resource list (uploaded files are kept)."""
        await self.open()
        now = time.time()
        async with self.store.read() as conn:
            rows = await conn.fetchall(
                "SELECT created_at FROM od_datasets WHERE name=?", [dataset.name]
            )
        dataset.created_at = rows[0][0] if rows else now
        dataset.modified_at = now
        meta = dataset.model_dump(exclude={"resources"})
        async with self.store.write() as conn:
            taken = await conn.fetchall(
                f"SELECT id FROM od_resources WHERE dataset<>? AND id IN "
                f"({','.join('?' * len(dataset.resources)) or 'NULL'})",
                [dataset.name, *(r.id for r in dataset.resources)],
            )
            if taken:
                raise CatalogError(f"resource id {taken[0][0]} belongs to another dataset", field="id")
            await conn.execute("DELETE FROM od_datasets WHERE name=?", [dataset.name])
            await conn.execute(
                "INSERT INTO od_datasets (name, organization, data, created_at, modified_at) "
                "VALUES (?,?,?,?,?)",
                [dataset.name, dataset.organization, _dump(meta), dataset.created_at, now],
            )
            await conn.execute("DELETE FROM od_resources WHERE dataset=?", [dataset.name])
            for resource in dataset.resources:
                await conn.execute(
                    "INSERT INTO od_resources (id, dataset, position, data) VALUES (?,?,?,?)",
                    [resource.id, dataset.name, resource.position, _dump(resource.model_dump())],
                )
            await conn.execute(
                "INSERT INTO od_organizations (name, data) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                [dataset.organization, _dump({"title": dataset.publisher})],
            )
        return dataset

    async def delete_dataset(self, name: str) -> bool:
        if "\x00" in name:
            return False
        await self.open()
        async with self.store.write() as conn:
            await conn.execute(
                "DELETE FROM od_files WHERE resource_id IN "
                "(SELECT id FROM od_resources WHERE dataset=?)",
                [name],
            )
            await conn.execute("DELETE FROM od_resources WHERE dataset=?", [name])
            return bool(await conn.execute("DELETE FROM od_datasets WHERE name=?", [name]))

    async def datasets(self) -> list[Dataset]:
        """Every dataset with its resources, by name."""
        await self.open()
        async with self.store.read() as conn:
            metas = await conn.fetchall("SELECT data FROM od_datasets ORDER BY name")
            res = await conn.fetchall("SELECT data FROM od_resources ORDER BY dataset, position")
        by_dataset: dict[str, list[Resource]] = {}
        for (data,) in res:
            resource = Resource.model_validate(orjson.loads(data))
            by_dataset.setdefault(resource.dataset, []).append(resource)
        out = []
        for (data,) in metas:
            dataset = Dataset.model_validate(orjson.loads(data))
            dataset.resources = by_dataset.get(dataset.name, [])
            out.append(dataset)
        return out

    async def names(self) -> list[str]:
        await self.open()
        async with self.store.read() as conn:
            rows = await conn.fetchall("SELECT name FROM od_datasets ORDER BY name")
        return [r[0] for r in rows]

    async def get(self, name: str) -> Dataset:
        if "\x00" in name:  # no name holds U+0000 (PostgreSQL text cannot)
            raise NotFound(f"no dataset named {name!r}")
        await self.open()
        async with self.store.read() as conn:
            rows = await conn.fetchall("SELECT data FROM od_datasets WHERE name=?", [name])
            res = await conn.fetchall(
                "SELECT data FROM od_resources WHERE dataset=? ORDER BY position", [name]
            )
        if not rows:
            raise NotFound(f"no dataset named {name}")
        dataset = Dataset.model_validate(orjson.loads(rows[0][0]))
        dataset.resources = [Resource.model_validate(orjson.loads(r[0])) for r in res]
        return dataset

    async def resource(self, resource_id: str) -> tuple[Dataset, Resource]:
        if "\x00" in resource_id:
            raise NotFound(f"no resource with id {resource_id!r}")
        await self.open()
        async with self.store.read() as conn:
            rows = await conn.fetchall("SELECT dataset FROM od_resources WHERE id=?", [resource_id])
        if not rows:
            raise NotFound(f"no resource with id {resource_id}")
        dataset = await self.get(rows[0][0])
        return dataset, dataset.resource(resource_id)

    async def organizations(self) -> list[dict[str, Any]]:
        await self.open()
        async with self.store.read() as conn:
            rows = await conn.fetchall(
                "SELECT o.name, o.data, (SELECT count(*) FROM od_datasets d "
                "WHERE d.organization = o.name) FROM od_organizations o ORDER BY o.name"
            )
        return [{"name": n, **orjson.loads(d), "package_count": c} for n, d, c in rows]

    async def put_file(
        self, resource_id: str, content: bytes, *, filename: str, media_type: str
    ) -> Resource:
        """Store the bytes of a file resource (replacing earlier ones)."""
        if "\x00" in filename + media_type:  # PostgreSQL text cannot hold U+0000
            raise CatalogError("filename: may not hold a NUL character (U+0000)", field="filename")
        dataset, resource = await self.resource(resource_id)
        if resource.kind != "file":
            raise CatalogError(f"resource {resource_id} is a live view, not a file", field="id")
        # The format follows the file unless the dataset declared one: a JSON file replacing
        # a CSV one was still listed as CSV.
        derived = resource.filename.rsplit(".", 1)[-1].upper() if resource.filename else ""
        if not resource.format or resource.format == derived:
            resource.format = filename.rsplit(".", 1)[-1].upper()
        resource.filename, resource.media_type, resource.size = filename, media_type, len(content)
        async with self.store.write() as conn:
            await conn.execute("DELETE FROM od_files WHERE resource_id=?", [resource_id])
            await conn.execute(
                "INSERT INTO od_files (resource_id, media_type, filename, content, size, uploaded_at) "
                "VALUES (?,?,?,?,?,?)",
                [resource_id, media_type, filename, content, len(content), time.time()],
            )
            await conn.execute(
                "UPDATE od_resources SET data=? WHERE id=?", [_dump(resource.model_dump()), resource_id]
            )
            await conn.execute(
                "UPDATE od_datasets SET modified_at=? WHERE name=?", [time.time(), dataset.name]
            )
        return resource

    async def get_file(self, resource_id: str) -> tuple[bytes, str, str]:
        """(content, filename, media type) of an uploaded file."""
        await self.open()
        async with self.store.read() as conn:
            rows = await conn.fetchall(
                "SELECT content, filename, media_type FROM od_files WHERE resource_id=?",
                [resource_id],
            )
        if not rows:
            raise NotFound(f"resource {resource_id} has no uploaded file")
        content, filename, media_type = rows[0]
        return as_bytes(content), filename, media_type


def search(
    datasets: list[Dataset],
    *,
    q: str = "",
    fq: str = "",
    sort: str = "",
) -> list[Dataset]:
    """CKAN-style search: every word of ``q`` in the text, ``fq`` as ``field:value`` terms."""
    words = [w.lower() for w in q.split() if w != "*:*"]
    filters = _parse_fq(fq)
    out = []
    for dataset in datasets:
        text = " ".join([
            dataset.name, dataset.title.ko, dataset.title.en, dataset.description.ko,
            dataset.description.en, *dataset.keywords, *dataset.themes, dataset.organization,
        ]).lower()  # fmt: skip
        if not all(word in text for word in words):
            continue
        if all(value in _facet(dataset, name) for name, value in filters):
            out.append(dataset)
    return sort_datasets(out, sort)


# A term starts where a run of name characters starts: without the lookbehind a long run
# with no ":" is retried from each of its characters, quadratic in the length of ``fq``.
FQ_TERM = re.compile(r'(?<![\w.-])[\w.-]+:(?:"[^"]*"|\S+)')


def _parse_fq(fq: str) -> list[tuple[str, str]]:
    out = []
    for term in FQ_TERM.findall(fq):
        name, value = term.split(":", 1)
        out.append((name, value.strip('"')))
    if fq.strip() and not out:
        raise CatalogError(f"fq: expected field:value terms, got {fq!r}", field="fq")
    return out


def _facet(dataset: Dataset, name: str) -> list[str]:
    facets = {
        "organization": [dataset.organization],
        "name": [dataset.name],
        "license_id": [dataset.license_id],
        "tags": dataset.keywords,
        "groups": dataset.themes,
        "res_format": [r.format for r in dataset.resources],
        "frequency": [dataset.frequency],
    }
    if name not in facets:
        raise CatalogError(f"fq: unknown field {name!r}; one of {', '.join(facets)}", field="fq")
    return facets[name]


SORT_KEYS = {
    "name": lambda d: d.name,
    "title_string": lambda d: d.title.ko or d.title.en,
    "metadata_modified": lambda d: d.modified_at,
    "metadata_created": lambda d: d.created_at,
}


def sort_datasets(datasets: list[Dataset], sort: str) -> list[Dataset]:
    """``sort`` as CKAN writes it: ``name asc``, ``metadata_modified desc`` (default: name)."""
    if not sort.strip():
        return sorted(datasets, key=SORT_KEYS["name"])
    out = list(datasets)
    for part in reversed([p.strip() for p in sort.split(",") if p.strip()]):
        field, _, order = part.partition(" ")
        if field not in SORT_KEYS or order.strip() not in ("", "asc", "desc"):
            raise CatalogError(
                f"sort: unknown {part!r}; fields {', '.join(SORT_KEYS)} with asc or desc",
                field="sort",
            )
        out.sort(key=SORT_KEYS[field], reverse=order.strip() == "desc")
    return out


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()
