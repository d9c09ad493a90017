"""Keys: issue, hash at rest, revoke; quotas exact under concurrency; rate limits; usage; admin."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from opendata_city import OVER_QUOTA, air_dataset, direct_store, issue_key, on_store, start_city

from smartseoul.opendata.keys import KeyStore, LimitExceeded, hash_key, seconds_to_midnight


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def test_keys_are_hashed_at_rest_and_revocable(city):
    r = city.http.post("/opendata/admin/keys", json={"owner": "Seoul bus app", "role": "reader"},
                       headers=city.auth())  # fmt: skip
    assert r.status_code == 201, r.text
    issued = r.json()
    key = issued["key"]
    assert len(key) == 40 and issued["id"] == key[:10] and issued["daily_quota"] == 1000

    async def stored(store):
        async with store.read() as conn:
            return await conn.fetchall("SELECT key_hash, prefix, owner FROM od_keys")

    rows = on_store(city.hub, stored)
    assert (hash_key(key), key[:10], "Seoul bus app") in [tuple(r) for r in rows]
    assert all(r[0] != key for r in rows)
    listing = city.http.get("/opendata/admin/keys", headers=city.auth()).json()
    assert issued["id"] in [k["id"] for k in listing] and "key" not in listing[0]
    assert city.http.get(f"/{key}/json/StationAir/1/1").json()["StationAir"]["RESULT"]["CODE"] == "INFO-000"
    assert city.http.delete(f"/opendata/admin/keys/{issued['id']}", headers=city.auth()).status_code == 204
    assert city.http.delete(f"/opendata/admin/keys/{issued['id']}", headers=city.auth()).status_code == 404
    assert city.http.get(f"/{key}/json/StationAir/1/1").json()["RESULT"]["CODE"] == "INFO-100"
    bad = city.http.post("/opendata/admin/keys", json={"owner": "x", "role": "king"}, headers=city.auth())
    assert bad.status_code == 400 and "reader" in bad.json()["detail"]


def test_admin_endpoints_need_an_admin_key(city):
    for method, path in [("GET", "/opendata/admin/keys"), ("POST", "/opendata/admin/keys"),
                         ("GET", "/opendata/admin/usage"), ("DELETE", "/opendata/admin/keys/x"),
                         ("PUT", "/opendata/admin/datasets/StationAir"),
                         ("DELETE", "/opendata/admin/datasets/StationAir"),
                         ("PUT", "/opendata/admin/resources/cctv-file/file")]:  # fmt: skip
        assert city.http.request(method, path).status_code == 401
        r = city.http.request(method, path, headers=city.auth(city.reader))
        assert r.status_code == 403 and "not admin" in r.json()["detail"]
    assert city.http.get("/api/3/action/package_list").json()["result"][-1] == "StationAir"


def test_quota_is_exact_under_concurrent_requests(city):
    key = issue_key(city.hub, "burst", daily_quota=7, rate_limit=0)
    base = city.hub.base

    def one(_):
        with httpx.Client(base_url=base, timeout=60) as http:
            return http.get(f"/{key}/json/StationAir/1/1")

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(one, range(30)))
    served = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert len(served) == 7 and len(refused) == 23
    assert all(r.json()["StationAir"]["RESULT"]["CODE"] == "INFO-000" for r in served)
    for r in refused:
        assert r.json() == {"RESULT": {"CODE": "ERROR-429", "MESSAGE": OVER_QUOTA}}
        assert r.headers["content-type"].startswith("application/json")
        assert 0 < int(r.headers["Retry-After"]) <= 86400
    # The XML form: the same bare RESULT, status and Retry-After.
    r = httpx.get(f"{base}/{key}/xml/StationAir/1/1", timeout=60)
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 86400
    root = ET.fromstring(r.content)
    assert (root.tag, root.findtext("CODE"), root.findtext("MESSAGE")) == ("RESULT", "ERROR-429", OVER_QUOTA)
    usage = [u for u in city.usage() if u["key"] == key[:10]]
    assert usage == [{"day": usage[0]["day"], "dataset": "StationAir", "key": key[:10],
                      "api": "seoul", "calls": 7, "rows": 7}]  # fmt: skip


def test_quota_is_exact_across_concurrent_transactions(hub):
    """Many coroutines (PostgreSQL: many pooled connections) consuming one key at once."""

    async def main():
        store = direct_store(hub)
        await store.open()
        try:
            keys = KeyStore(store)
            _, record = await keys.issue("race", daily_quota=25, rate_limit=0)

            async def attempt():
                try:
                    await keys.consume(record)
                    return True
                except LimitExceeded:
                    return False

            results = await asyncio.gather(*(attempt() for _ in range(60)))
            return sum(results), await keys.calls_today(record)
        finally:
            await store.close()

    assert asyncio.run(main()) == (25, 25)


def test_rate_limit_answers_retry_after(city):
    key = issue_key(city.hub, "fast", daily_quota=0, rate_limit=3)
    codes = [city.http.get(f"/{key}/json/StationAir/1/1") for _ in range(5)]
    assert [r.status_code for r in codes] in ([200, 200, 200, 429, 429],
                                               # the minute may turn over mid-test
                                               [200, 200, 200, 429, 200], [200, 200, 200, 200, 200])  # fmt: skip
    refused = [r for r in codes if r.status_code == 429]
    for r in refused:
        assert r.json() == {"RESULT": {"CODE": "ERROR-429", "MESSAGE": OVER_QUOTA}}
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Downloads and CKAN calls count against the same key.
    r = city.http.get("/api/3/action/package_list", headers=city.auth(key))
    if refused:
        assert r.status_code == 429 and r.json()["error"]["__type"] == "Too Many Requests"
        assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_limits_refuse_without_counting(hub):
    async def main():
        store = direct_store(hub)
        await store.open()
        try:
            keys = KeyStore(store)
            _, record = await keys.issue("both", daily_quota=2, rate_limit=1)
            now = time.time()
            await keys.consume(record, now=now)
            with pytest.raises(LimitExceeded) as rate:
                await keys.consume(record, now=now)
            assert rate.value.kind == "rate"
            await keys.consume(record, now=now + 60)
            with pytest.raises(LimitExceeded) as quota:
                await keys.consume(record, now=now + 120)
            assert quota.value.kind == "quota"
            assert quota.value.retry_after == seconds_to_midnight(now + 120)
            return await keys.calls_today(record, now=now)
        finally:
            await store.close()

    assert asyncio.run(main()) == 2


def test_usage_per_dataset_and_key(city):
    for _ in range(2):
        city.http.get(f"/{city.reader}/json/StationAir/1/4")
    city.http.get("/sample/json/CctvFile/1/2")
    city.http.get("/opendata/datasets/CctvFile/resources/cctv-file/download?format=json",
                  headers=city.auth(city.reader))  # fmt: skip
    city.http.get("/api/3/action/datastore_search", params={"resource_id": "station-latest"})
    got = {(u["dataset"], u["key"], u["api"]): (u["calls"], u["rows"]) for u in city.usage()}
    assert got[("StationAir", city.reader[:10], "seoul")] == (2, 8)
    assert got[("CctvFile", "sample", "seoul")] == (1, 2)
    assert got[("CctvFile", city.reader[:10], "download")] == (1, 3)
    assert got[("StationAir", "", "datastore")] == (1, 3)
    only = city.http.get("/opendata/admin/usage", params={"dataset": "CctvFile"}, headers=city.auth())
    assert {u["dataset"] for u in only.json()} == {"CctvFile"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"daily_quota": "5"}, "daily_quota: an integer from 0 (no limit) to 2147483647"),
        ({"daily_quota": 1.5}, "daily_quota: an integer from 0 (no limit) to 2147483647"),
        ({"daily_quota": True}, "daily_quota: an integer from 0 (no limit) to 2147483647"),
        ({"rate_limit": 2**31}, "rate_limit: an integer from 0 (no limit) to 2147483647"),
        ({"rate_limit": -1}, "rate_limit: an integer from 0 (no limit) to 2147483647"),
        ({"owner": "me\x00"}, "owner and tenant may not hold a NUL character (U+0000)"),
        ({"tenant": "a\x00"}, "owner and tenant may not hold a NUL character (U+0000)"),
    ],
)
def test_issue_refuses_limits_and_names_the_store_cannot_hold(city, body, detail):
    auth = city.auth(issue_key(city.hub, "ops", role="admin", tenant="*"))  # any tenant
    before = city.http.get("/opendata/admin/keys", headers=auth).json()
    r = city.http.post("/opendata/admin/keys", json={"owner": "me", **body}, headers=auth)
    assert (r.status_code, r.json()["title"], r.json()["detail"]) == (400, "Bad Request", detail)
    assert city.http.get("/opendata/admin/keys", headers=auth).json() == before
    r = city.http.post("/opendata/admin/keys", json={"owner": "me", "daily_quota": 2**31 - 1},
                       headers=auth)  # fmt: skip
    assert r.status_code == 201 and r.json()["daily_quota"] == 2**31 - 1


def test_an_admin_key_acts_on_its_own_tenant_only(city):
    # An admin key of one tenant could issue itself an admin key for every tenant ("*"),
    # revoke other tenants' keys and publish live views of another tenant's data.
    gangnam = issue_key(city.hub, "Gangnam-gu office", role="admin", tenant="gangnam")
    other = issue_key(city.hub, "Jongno-gu app", tenant="jongno")[:10]  # its id
    for tenant in ("*", "jongno", ""):
        r = city.http.post("/opendata/admin/keys", headers=city.auth(gangnam),
                           json={"owner": "x", "role": "admin", "tenant": tenant})  # fmt: skip
        assert r.status_code == 403, r.text
        assert r.json()["detail"].endswith("it cannot issue keys for it")
    r = city.http.post("/opendata/admin/keys", headers=city.auth(gangnam),
                       json={"owner": "Gangnam app", "tenant": "gangnam"})  # fmt: skip
    assert r.status_code == 201 and r.json()["tenant"] == "gangnam"
    listed = city.http.get("/opendata/admin/keys", headers=city.auth(gangnam)).json()
    assert {k["tenant"] for k in listed} == {"gangnam"} and len(listed) == 2
    r = city.http.delete(f"/opendata/admin/keys/{other}", headers=city.auth(gangnam))
    assert r.status_code == 404
    everyone = issue_key(city.hub, "ops", role="admin", tenant="*")
    listed = city.http.get("/opendata/admin/keys", headers=city.auth(everyone)).json()
    assert other in [k["id"] for k in listed]  # not revoked
    # The default tenant's admin is one tenant's admin too.
    r = city.http.post("/opendata/admin/keys", headers=city.auth(),
                       json={"owner": "x", "tenant": "jongno"})  # fmt: skip
    assert r.status_code == 403

    # StationAir's views read the default tenant: not this key's to publish or remove.
    for method in ("PUT", "DELETE"):
        r = city.http.request(method, "/opendata/admin/datasets/StationAir",
                              json=air_dataset() if method == "PUT" else None,
                              headers=city.auth(gangnam))  # fmt: skip
        assert r.status_code == 403, r.text
    mine = air_dataset("GangnamAir")
    for resource in mine["resources"]:
        resource["id"] = "gangnam-" + resource["id"]
        if resource.get("query"):
            resource["query"]["tenant"] = "gangnam"
    r = city.http.put("/opendata/admin/datasets/GangnamAir", json=mine, headers=city.auth(gangnam))
    assert r.status_code == 200, r.text
    shown = city.http.get("/api/3/action/package_show", params={"id": "StationAir"}).json()
    assert shown["success"] is True
