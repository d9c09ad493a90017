"""A small city for the open-data tests: stations with history in a running hub, datasets, keys.

Test modules wrap :func:`start_city` in a fixture on the shared ``hub`` fixture, so every
test runs on SQLite and PostgreSQL through real HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx

from conftest import POSTGRES_URL

EX = "https://example.org/city/"
CONTEXT = {t: EX + t for t in ("Station", "pm10", "name", "gu", "kind")}
GU = {"1": "강남구", "2": "종로구", "3": "강남구"}
HOURS = 10
# The Seoul OpenAPI's MESSAGE for an exhausted quota or rate limit (ERROR-429, smartseoul's
# addition to the original codes; see docs/opendata.md).
OVER_QUOTA = "일일 호출 한도 또는 분당 호출 한도를 초과했습니다. Retry-After 후 다시 요청하십시오."


def station(n: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Station:{n}",
        "type": "Station",
        "name": {"type": "LanguageProperty", "languageMap": {"ko": f"측정소{n}", "en": f"Station {n}"}},
        "gu": {"type": "Property", "value": GU[n]},
        "kind": {"type": "Property", "value": "district"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [127.0 + int(n) / 100, 37.5]}},
        "@context": CONTEXT,
    }  # fmt: skip


def latest(n: str) -> dict[str, Any]:
    """The last reading (09:00), written as a current value: it enters history too."""
    return {"pm10": {"type": "Property", "value": 10 * int(n) + HOURS - 1, "unitCode": "GQ",
                     "observedAt": f"2026-01-01T{HOURS - 1:02d}:00:00Z"}, "@context": CONTEXT}


def history(n: str) -> dict[str, Any]:
    """pm10 = 10*n + hour at 00:00 ... 08:00 UTC on 2026-01-01 (09:00 comes from ``latest``)."""
    return {
        "id": f"urn:ngsi-ld:Station:{n}",
        "type": "Station",
        "pm10": [
            {"type": "Property", "value": 10 * int(n) + h, "unitCode": "GQ",
             "observedAt": f"2026-01-01T{h:02d}:00:00Z"}
            for h in range(HOURS - 1)
        ],
        "@context": CONTEXT,
    }  # fmt: skip


def air_dataset(name: str = "StationAir") -> dict[str, Any]:
    history_view = {
        "type": "Station", "context": CONTEXT, "mode": "history", "attrs": ["pm10"],
        "start": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
        "columns": {"TIME": "observedAt", "NAME": "name.ko", "GU": "gu", "PM10": "pm10"},
    }  # fmt: skip
    latest_view = {
        "type": "Station", "context": CONTEXT, "mode": "latest",
        "columns": {"ID": "id", "NAME": "name.ko", "NAME_EN": "name.en", "GU": "gu",
                    "PM10": "pm10", "location": "location"},
    }  # fmt: skip
    return {
        "name": name,
        "title": {"ko": "측정소 미세먼지", "en": "Station particulate matter"},
        "description": {"ko": "시험용 측정소의 시간별 PM10", "en": "Hourly PM10 at test stations"},
        "license_id": "KOGL-1", "keywords": ["미세먼지", "PM10"], "themes": ["ENVI"],
        "frequency": "hourly", "organization": "test-city",
        "contact": {"name": "Test", "email": "test@example.org"},
        "seoul_filters": ["GU", "TIME"],
        "resources": [
            {"id": "station-history", "kind": "query", "query": history_view,
             "name": {"ko": "시간별 이력", "en": "Hourly history"}},
            {"id": "station-latest", "kind": "query", "query": latest_view,
             "name": {"ko": "최신값", "en": "Latest"}},
        ],
    }  # fmt: skip


CCTV_CSV = "\ufeff기관명,소계,2016년\r\n강남구,2780,932\r\n종로구,1002,630\r\n중구,671,348\r\n".encode()
FILE_DATASET = {
    "name": "CctvFile",
    "title": {"ko": "자치구별 CCTV", "en": "CCTV by gu"},
    "description": {"en": "CCTV cameras per gu (test file)"},
    "license_id": "CC-BY-4.0", "keywords": ["CCTV"], "themes": ["JUST"],
    "organization": "safety-office", "seoul_filters": ["기관명"],
    "resources": [{"id": "cctv-file", "kind": "file", "name": {"en": "CCTV (CSV)"}}],
}  # fmt: skip
EMPTY_DATASET = {
    "name": "NoStations",
    "title": {"en": "Nothing here"},
    "description": {"en": "A view of a type with no entities"},
    "resources": [{"id": "nothing", "kind": "query", "name": {"en": "none"},
                   "query": {"type": "Nowhere", "context": CONTEXT}}],
}  # fmt: skip


def direct_store(hub: Any) -> Any:
    """A second store on the hub's database, for what has no HTTP door (the first admin key)."""
    if hub.backend == "sqlite":
        from smartseoul.hub.store.sqlite import SqliteStore

        return SqliteStore(hub.store.path)
    from smartseoul.hub.store.postgres import PostgresStore

    return PostgresStore(POSTGRES_URL, schema=hub.store.schema, pool_size=2)


def on_store(hub: Any, work: Any) -> Any:
    """Run ``await work(store)`` on a direct store of the hub's database."""

    async def main() -> Any:
        store = direct_store(hub)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def issue_key(hub: Any, owner: str, **options: Any) -> str:
    from smartseoul.opendata.keys import KeyStore

    async def work(store: Any) -> str:
        key, _ = await KeyStore(store).issue(owner, **options)
        return key

    return on_store(hub, work)


class City:
    def __init__(self, hub: Any):
        self.hub = hub
        self.http = httpx.Client(base_url=hub.base, timeout=60)
        self.admin = issue_key(hub, "admin", role="admin", daily_quota=0, rate_limit=0)
        self.reader = issue_key(hub, "app", daily_quota=0, rate_limit=0)

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin}"}

    def put_dataset(self, data: dict[str, Any]) -> httpx.Response:
        return self.http.put(f"/opendata/admin/datasets/{data['name']}", json=data,
                             headers=self.auth())  # fmt: skip

    def file_dataset(self, content: bytes | None = None, filename: str = "f.csv") -> None:
        """Dataset ``Files`` with the one file resource ``ff`` (its file uploaded unless None)."""
        data = {**FILE_DATASET, "name": "Files", "seoul_filters": [],
                "resources": [{"id": "ff", "kind": "file", "name": {"en": "f"}}]}  # fmt: skip
        assert self.put_dataset(data).status_code == 200
        if content is not None:
            r = self.http.put(f"/opendata/admin/resources/ff/file?filename={filename}",
                              content=content, headers=self.auth())  # fmt: skip
            assert r.status_code == 200, r.text

    def usage(self) -> list[dict[str, Any]]:
        response = self.http.get("/opendata/admin/usage", headers=self.auth())
        assert response.status_code == 200, response.text
        return response.json()


def start_city(hub: Any) -> Iterator[City]:
    city = City(hub)
    ld = {"Content-Type": "application/ld+json"}
    r = hub.http.post("/entityOperations/upsert", json=[station(n) for n in GU], headers=ld)
    assert r.status_code in (201, 204), r.text
    for n in GU:
        r = hub.http.post("/temporal/entities", json=history(n), headers=ld)
        assert r.status_code in (201, 204), r.text
        r = hub.http.post(f"/entities/urn:ngsi-ld:Station:{n}/attrs", json=latest(n), headers=ld)
        assert r.status_code == 204, r.text
    for data in (air_dataset(), FILE_DATASET, EMPTY_DATASET):
        r = city.put_dataset(data)
        assert r.status_code == 200, r.text
    r = city.http.put("/opendata/admin/resources/cctv-file/file?filename=cctv.csv",
                      content=CCTV_CSV, headers={**city.auth(), "Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 200, r.text
    try:
        yield city
    finally:
        city.http.close()
