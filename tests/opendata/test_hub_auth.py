"""SMARTSEOUL_AUTH=on: hub writes need a writer key for the tenant; refusals write nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from opendata_city import issue_key

from conftest import Hub, free_port, make_store, problem, running
from smartseoul.app import create_app
from smartseoul.config import Settings

ENTITY = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "n": {"type": "Property", "value": 1}}


def start(backend: str, tmp_path: Path, **settings):
    store = make_store(backend, tmp_path)
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port, auth="on", **settings), store=store)
    return app, store, port


@pytest.fixture
def secured(backend, tmp_path):
    app, store, port = start(backend, tmp_path, auth_keyed_tenants="secret")
    with running(app, port) as base:
        hub = Hub(base, backend, store, app)
        yield hub
        hub.http.close()
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


def keyed(key: str, tenant: str = "") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return headers


def test_writes_need_a_writer_key(secured):
    http = secured.http
    body = problem(http.post("/entities", json=ENTITY), 401, "Unauthorized")
    assert "missing" in body["detail"]
    assert http.post("/entities", json=ENTITY).headers["www-authenticate"].startswith("Bearer")
    problem(http.post("/entities", json=ENTITY, headers=keyed("wrong")), 401, "Unauthorized")
    reader = issue_key(secured, "reader")
    body = problem(http.post("/entities", json=ENTITY, headers=keyed(reader)), 403, "Forbidden")
    assert "needs writer" in body["detail"]
    problem(http.delete(f"/entities/{ENTITY['id']}", headers=keyed(reader)), 403, "Forbidden")
    # Nothing was written by the refused requests; reads stay public.
    assert http.get(f"/entities/{ENTITY['id']}").status_code == 404
    assert http.get("/entities", params={"type": "Thing"}).json() == []
    writer = issue_key(secured, "writer", role="writer")
    assert http.post("/entities", json=ENTITY, headers=keyed(writer)).status_code == 201
    assert http.get(f"/entities/{ENTITY['id']}").json()["n"]["value"] == 1
    # A query by POST is a read.
    query = {"type": "Query", "entities": [{"type": "Thing"}]}
    assert http.post("/entityOperations/query", json=query).status_code == 200


def test_roles_are_per_tenant(secured):
    http = secured.http
    writer = issue_key(secured, "district", role="writer", tenant="gangnam")
    ok = http.post("/entities", json=ENTITY, headers=keyed(writer, "gangnam"))
    assert ok.status_code == 201 and ok.headers.get("NGSILD-Tenant") == "gangnam"
    body = problem(http.post("/entities", json=ENTITY, headers=keyed(writer)), 403, "Forbidden")
    assert "gangnam" in body["detail"]
    admin = issue_key(secured, "ops", role="admin", tenant="*")
    assert http.post("/entities", json=ENTITY, headers=keyed(admin, "jongno")).status_code == 201


def test_keyed_tenants_need_a_key_to_read(secured):
    http = secured.http
    writer = issue_key(secured, "w", role="writer", tenant="secret")
    assert http.post("/entities", json=ENTITY, headers=keyed(writer, "secret")).status_code == 201
    problem(http.get("/entities", params={"type": "Thing"}, headers={"NGSILD-Tenant": "secret"}),
            401, "Unauthorized")  # fmt: skip
    reader = issue_key(secured, "r", tenant="secret")
    r = http.get("/entities", params={"type": "Thing"}, headers=keyed(reader, "secret"))
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [ENTITY["id"]]


def test_a_repeated_tenant_header_is_checked_as_the_hub_reads_it(secured):
    """The hub acts on the first NGSILD-Tenant header: a key for one tenant may not reach
    another by sending that one first and its own after it."""
    http = secured.http
    writer = issue_key(secured, "w", role="writer", tenant="mine")
    both = [("Authorization", f"Bearer {writer}"), ("NGSILD-Tenant", "victim"),
            ("NGSILD-Tenant", "mine")]  # fmt: skip
    body = problem(http.post("/entities", json=ENTITY, headers=both), 403, "Forbidden")
    assert "may not write tenant 'victim'" in body["detail"]
    victim = {"NGSILD-Tenant": "victim"}
    assert http.get(f"/entities/{ENTITY['id']}", headers=victim).status_code == 404
    secret = [("Authorization", f"Bearer {writer}"), ("NGSILD-Tenant", "secret"),
              ("NGSILD-Tenant", "mine")]  # fmt: skip
    read = http.get("/entities", params={"type": "Thing"}, headers=secret)
    body = problem(read, 403, "Forbidden")
    assert "may not read tenant 'secret'" in body["detail"]


def test_only_the_query_posts_pass_as_reads(secured):
    """A subscription id may hold "/": DELETE or PATCH of one ending in
    /entityOperations/query is a write like any other, not the query POST."""
    http = secured.http
    writer = issue_key(secured, "w", role="writer")
    sid = "urn:ngsi-ld:Subscription:x/entityOperations/query"
    subscription = {"id": sid, "type": "Subscription", "entities": [{"type": "Thing"}],
                    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}  # fmt: skip
    assert http.post("/subscriptions", json=subscription, headers=keyed(writer)).status_code == 201
    problem(http.patch(f"/subscriptions/{sid}", json={"description": "x"}), 401, "Unauthorized")
    problem(http.delete(f"/subscriptions/{sid}"), 401, "Unauthorized")
    assert http.get(f"/subscriptions/{sid}", headers=keyed(writer)).json()["id"] == sid
    query = {"type": "Query", "entities": [{"type": "Thing"}]}
    assert http.post("/entityOperations/query", json=query).status_code == 200
    since = {"timerel": "after", "timeAt": "2026-01-01T00:00:00Z"}
    temporal = http.post("/temporal/entityOperations/query", json={**query, "temporalQ": since})
    assert temporal.status_code == 200, temporal.text
    assert http.delete(f"/subscriptions/{sid}", headers=keyed(writer)).status_code == 204


def test_keyed_reads_everywhere(backend, tmp_path):
    app, store, port = start(backend, tmp_path, auth_read="keyed")
    with running(app, port) as base:
        hub = Hub(base, backend, store, app)
        problem(hub.http.get("/types"), 401, "Unauthorized")
        reader = issue_key(hub, "r")
        assert hub.http.get("/types", headers=keyed(reader)).status_code == 200
        # Open data stays public: the catalog is not the hub API.
        assert httpx.get(base + "/api/3/action/package_list").json()["success"] is True
        hub.http.close()
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


def test_auth_off_by_default(hub):
    assert hub.http.post("/entities", json=ENTITY).status_code == 201
