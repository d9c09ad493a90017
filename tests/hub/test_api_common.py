"""Common behaviours over real HTTP, on SQLite and PostgreSQL.

HTTP preconditions (6.3.4), @context resolution (6.3.5, 5.5.7), response rules (6.3.6),
errors (5.5.2, 5.5.3, 6.3.2, 6.3.3), tenants (4.14, 5.5.10, 6.3.14).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import RawAnswer, document_server, free_port, make_store, problem, running
from smartseoul.app import create_app
from smartseoul.config import Settings

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
REL = "http://www.w3.org/ns/json-ld#context"
B1 = "urn:ngsi-ld:Building:b1"
B3 = "urn:ngsi-ld:Building:b3"
EX = "https://example.org/ns/"
USER_CONTEXT = {
    "@context": {
        "ex": EX,
        "Building": "ex:Building",
        "Office": "ex:Office",
        "name": "ex:name",
        "category": {"@id": "ex:category", "@type": "@vocab"},
    }
}
JSON = {"Content-Type": "application/json"}
LD = {"Content-Type": "application/ld+json"}


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="{REL}"; type="application/ld+json"'}


def bare(response, status: int) -> None:
    """Just a status code, no payload body (clause 6.3.4)."""
    assert response.status_code == status, response.text
    assert response.content == b""
    assert "content-type" not in response.headers


def create(hub, body=None, headers=None) -> None:
    body = body or {"id": B1, "type": "Building", "name": "A"}
    response = hub.http.post("/entities", json=body, headers=headers)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def context_server() -> Iterator[str]:
    """Serve @context documents on a local port: /user.jsonld, /broken.jsonld (not JSON),
    /nocontext.json (JSON without @context), /missing (404)."""
    with document_server({
        "/user.jsonld": json.dumps(USER_CONTEXT).encode(),
        "/broken.jsonld": b"{not json",
        "/nocontext.json": json.dumps({"name": EX + "name"}).encode(),
    }) as base:  # fmt: skip
        yield base


# -- preconditions (6.3.4) ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/entities"), ("PATCH", f"/entities/{B1}/attrs"), ("PUT", f"/entities/{B1}"),
     ("POST", "/entityOperations/create"), ("PATCH", f"/entities/{B1}"),
     ("POST", "/jsonldContexts"), ("POST", "/subscriptions"),
     ("PATCH", "/subscriptions/urn:ngsi-ld:Subscription:s1")],
)  # fmt: skip
def test_unsupported_content_type_is_bare_415(hub, method, path):
    bare(hub.http.request(method, path, content=b"{}", headers={"Content-Type": "text/plain"}), 415)
    bare(hub.http.request(method, path, content=b"{}"), 415)


def test_merge_patch_content_type_only_for_patch(hub):
    response = hub.http.post(
        "/entities", content=b"{}", headers={"Content-Type": "application/merge-patch+json"}
    )
    bare(response, 415)


def test_missing_content_length_is_bare_411(hub):
    """A chunked body has no Content-Length (clause 6.3.4)."""

    def chunks():
        yield json.dumps({"id": B1, "type": "Building"}).encode()

    response = hub.http.post("/entities", content=chunks(), headers=JSON)
    assert response.request.headers.get("transfer-encoding") == "chunked"
    bare(response, 411)
    problem(hub.http.get(f"/entities/{B1}"), 404, "ResourceNotFound")
    # Every POST: an @context added without Content-Length used to be stored (201).
    bare(hub.http.post("/jsonldContexts", content=iter([b'{"@context": {}}']), headers=JSON), 411)
    assert hub.http.get("/jsonldContexts").json() == []


@pytest.mark.parametrize(
    "accept", ["text/html", "application/xml, text/plain", "application/json;q=0"]
)
def test_not_acceptable_is_406_with_the_representations(hub, accept):
    create(hub)
    response = hub.http.get(f"/entities/{B1}", headers={"Accept": accept})
    assert response.status_code == 406
    body = response.text
    assert "application/json" in body and "application/ld+json" in body


def test_geojson_accept_is_406_outside_consumption(hub):
    """Clause 6.3.4: application/geo+json only for retrieve and query entities."""
    response = hub.http.post(
        "/entities", json={"id": B1, "type": "Building"}, headers={"Accept": "application/geo+json"}
    )
    assert response.status_code == 406
    assert "application/json" in response.text


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/ld+json", "application/ld+json"),
        ("text/html, application/ld+json", "application/ld+json"),
        ("application/ld+json;q=0.5, application/json;q=0.9", "application/json"),
        ("application/json, application/ld+json", "application/json"),
        ("application/geo+json", "application/geo+json"),
    ],
)
def test_accept_negotiation(hub, accept, media):
    create(hub)
    headers = {"Accept": accept} if accept else {}
    response = hub.http.get(f"/entities/{B1}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == media


def test_invalid_json_is_400_invalid_request(hub):
    response = hub.http.post("/entities", content=b'{"id": "urn:a:b", ', headers=JSON)
    problem(response, 400, "InvalidRequest")
    problem(hub.http.post("/entities", content=b"", headers=JSON), 400, "InvalidRequest")


# -- responses (6.3.6) -----------------------------------------------------------------------
def test_json_response_has_link_ld_json_response_has_context(hub):
    create(hub)
    response = hub.http.get(f"/entities/{B1}")
    assert response.headers["link"] == f'<{CORE}>; rel="{REL}"; type="application/ld+json"'
    assert "@context" not in response.json()
    response = hub.http.get(f"/entities/{B1}", headers={"Accept": "application/ld+json"})
    assert "link" not in response.headers
    assert response.json() == {
        "@context": CORE,
        "id": B1,
        "type": "Building",
        "name": {"type": "Property", "value": "A"},
    }
    listing = hub.http.get(
        "/entities", params={"type": "Building"}, headers={"Accept": "application/ld+json"}
    )
    assert [e["@context"] for e in listing.json()] == [CORE]


def test_errors_and_partial_success_are_plain_json(hub):
    ld = {"Accept": "application/ld+json"}
    problem(hub.http.get(f"/entities/{B1}", headers=ld), 404, "ResourceNotFound")
    create(hub)
    response = hub.http.post(
        f"/entities/{B1}/attrs", params={"options": "noOverwrite"}, json={"name": "B"}, headers=ld
    )
    assert response.status_code == 207
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers and "@context" not in response.json()


def test_no_content_responses(hub):
    create(hub)
    response = hub.http.patch(f"/entities/{B1}/attrs", json={"name": "B"})
    assert response.status_code == 204
    assert response.content == b""
    for header in ("content-length", "content-type", "link"):
        assert header not in response.headers


def test_method_not_allowed_and_unknown_resource(hub):
    response = hub.http.put("/entities", json={})
    assert response.status_code == 405
    assert "POST" in response.headers["allow"] and "GET" in response.headers["allow"]
    problem(hub.http.get("/nothing-here"), 404, "ResourceNotFound")


# -- @context (6.3.5, 5.5.7) -----------------------------------------------------------------
def test_link_header_user_context(hub, context_server):
    url = f"{context_server}/user.jsonld"
    body = {
        "id": B1,
        "type": "Building",
        "name": "City Hall",
        "category": {"type": "VocabProperty", "vocab": "Office"},
        "height": 42,
    }
    create(hub, body, headers=link(url))
    compact = hub.http.get(f"/entities/{B1}", headers=link(url), params={"options": "keyValues"})
    assert compact.status_code == 200, compact.text
    assert compact.json() == {
        "id": B1,
        "type": "Building",
        "name": "City Hall",
        "category": {"vocab": "Office"},
        "height": 42,
    }
    assert compact.headers["link"] == f'<{url}>; rel="{REL}"; type="application/ld+json"'
    expanded = hub.http.get(f"/entities/{B1}", params={"options": "keyValues"}).json()
    assert expanded == {
        "id": B1,
        "type": EX + "Building",
        EX + "name": "City Hall",
        EX + "category": {"vocab": EX + "Office"},
        "height": 42,
    }
    ld = hub.http.get(f"/entities/{B1}", headers={**link(url), "Accept": "application/ld+json"})
    assert ld.json()["@context"] == url
    # Queries expand type and attribute names with the Link context too.
    found = hub.http.get("/entities", params={"type": "Building", "q": "name==\"City Hall\""},
                         headers=link(url))  # fmt: skip
    assert [e["id"] for e in found.json()] == [B1]
    assert hub.http.get("/entities", params={"type": "Building"}).json() == []


def test_ld_json_body_context(hub, context_server):
    body = {
        "id": B1,
        "type": "Building",
        "name": "City Hall",
        "@context": [{"name": EX + "name", "Building": EX + "Building"}, CORE],
    }
    response = hub.http.post("/entities", json=body, headers=LD)
    assert response.status_code == 201, response.text
    out = hub.http.get(
        f"/entities/{B1}",
        headers=link(f"{context_server}/user.jsonld"),
        params={"format": "keyValues"},
    )
    assert out.json() == {"id": B1, "type": "Building", "name": "City Hall"}
    with_url = {"id": "urn:ngsi-ld:Building:b2", "type": "Building",
                "@context": f"{context_server}/user.jsonld"}  # fmt: skip
    assert hub.http.post("/entities", json=with_url, headers=LD).status_code == 201
    assert hub.http.get("/entities/urn:ngsi-ld:Building:b2").json()["type"] == EX + "Building"


def test_context_mixing_is_400(hub, context_server):
    url = f"{context_server}/user.jsonld"
    body = {"id": B1, "type": "Building"}
    # ld+json needs an @context in the body, and no Link header.
    problem(hub.http.post("/entities", json=body, headers=LD), 400, "BadRequestData")
    problem(
        hub.http.post("/entities", json={**body, "@context": CORE}, headers={**LD, **link(url)}),
        400,
        "BadRequestData",
    )
    # application/json cannot carry an @context in the body.
    problem(hub.http.post("/entities", json={**body, "@context": CORE}), 400, "BadRequestData")
    problem(hub.http.get(f"/entities/{B1}"), 404, "ResourceNotFound")


def test_unavailable_or_invalid_remote_context(hub, context_server):
    missing = hub.http.get(
        "/entities", params={"type": "Building"}, headers=link(f"{context_server}/missing")
    )
    problem(missing, 504, "LdContextNotAvailable")
    # JSON-LD 1.1 API 4.1.2 step 5.2.5: a document that cannot be parsed as JSON is "loading
    # remote context failed" (not available); JSON without @context an "invalid remote context".
    broken = hub.http.get(
        "/entities", params={"type": "Building"}, headers=link(f"{context_server}/broken.jsonld")
    )
    problem(broken, 504, "LdContextNotAvailable")
    invalid = hub.http.get(
        "/entities", params={"type": "Building"}, headers=link(f"{context_server}/nocontext.json")
    )
    problem(invalid, 400, "BadRequestData")
    problem(
        hub.http.get("/entities", params={"type": "Building"}, headers={"Link": "<nope"}),
        400,
        "BadRequestData",
    )


def _context_server(length: int, pause: float) -> RawAnswer:
    """An @context document of ``length`` bytes (``{`` and spaces), 64 KiB every ``pause`` s."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\nContent-Length: %d\r\n\r\n{"
    return RawAnswer(head % length, b" ", length - 1, pause=pause, path="/context.jsonld")


def test_a_remote_context_is_read_within_its_size_and_time(backend, tmp_path):
    # The whole body was read before its size was checked (here 100 MB), and httpx's timeout
    # bounds each read, not the fetch: a server sending a chunk a second held the request.
    store = make_store(backend, tmp_path)
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port, context_fetch_timeout=2.0), store=store)
    with running(app, port) as base, httpx.Client(base_url=base + "/ngsi-ld/v1") as http:
        huge = _context_server(100_000_000, 0.0)
        r = http.get("/entities", params={"type": "Building"}, headers=link(huge.url), timeout=30)
        assert "larger than 4194304 bytes" in problem(r, 400, "BadRequestData")["detail"]
        sent = huge.join()
        assert sent and sent[0] < 20_000_000, sent
        slow = _context_server(10_000_000, 0.5)
        start = time.monotonic()
        r = http.get("/entities", params={"type": "Building"}, headers=link(slow.url), timeout=30)
        body = problem(r, 504, "LdContextNotAvailable")
        assert body["detail"].endswith("could not be fetched within 2 s")
        assert time.monotonic() - start < 6
        slow.join()
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


# -- tenants (4.14, 5.5.10, 6.3.14) ----------------------------------------------------------
def test_tenant_created_on_create_and_echoed(hub):
    seoul = {"NGSILD-Tenant": "seoul"}
    response = hub.http.post("/entities", json={"id": B1, "type": "Building"}, headers=seoul)
    assert response.status_code == 201
    assert response.headers["ngsild-tenant"] == "seoul"
    response = hub.http.get(f"/entities/{B1}", headers=seoul)
    assert response.status_code == 200 and response.headers["ngsild-tenant"] == "seoul"
    listing = hub.http.get("/entities", params={"type": "Building"}, headers=seoul)
    assert [e["id"] for e in listing.json()] == [B1]
    assert listing.headers["ngsild-tenant"] == "seoul"
    no_content = hub.http.patch(f"/entities/{B1}/attrs", json={"a": 1}, headers=seoul)
    assert no_content.status_code == 204 and no_content.headers["ngsild-tenant"] == "seoul"
    # The default tenant and other tenants do not see it.
    problem(hub.http.get(f"/entities/{B1}"), 404, "ResourceNotFound")
    assert hub.http.get("/entities", params={"type": "Building"}).json() == []
    create(hub, {"id": B1, "type": "Office"})
    assert hub.http.get(f"/entities/{B1}", headers=seoul).json()["type"] == "Building"
    assert hub.http.get(f"/entities/{B1}").json()["type"] == "Office"


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", f"/entities/{B1}", None, None),
        ("GET", "/entities", {"type": "Building"}, None),
        ("DELETE", f"/entities/{B1}", None, None),
        ("POST", f"/entities/{B1}/attrs", None, {"a": 1}),
        ("PATCH", f"/entities/{B1}/attrs", None, {"a": 1}),
        ("PATCH", f"/entities/{B1}", None, {"a": 1}),
        ("PUT", f"/entities/{B1}", None, {"type": "Building"}),
        ("PATCH", f"/entities/{B1}/attrs/a", None, {"value": 1}),
        ("DELETE", f"/entities/{B1}/attrs/a", None, None),
        ("GET", "/types", None, None),
        ("GET", "/attributes", None, None),
        ("POST", "/entityOperations/query", None, {"type": "Query", "entities": [{"type": "B"}]}),
    ],
)
def test_nonexistent_tenant_is_404(hub, method, path, params, body):
    headers = {"NGSILD-Tenant": "atlantis"}
    response = hub.http.request(method, path, params=params, json=body, headers=headers)
    problem(response, 404, "NonexistentTenant")
    assert response.headers["ngsild-tenant"] == "atlantis"


def test_health_is_cheap_and_metrics_count_the_store(hub):
    """/health answers without counting; /metrics gives the store sizes (counted at most
    every STATS_EVERY seconds, so a second scrape right after shows the same counts)."""
    body = {"id": "urn:ngsi-ld:Thing:m1", "type": "Thing", "n": {"type": "Property", "value": 1}}
    assert hub.http.post("/entities", json=body).status_code == 201
    health = httpx.get(hub.base + "/health").json()
    assert health == {"status": "ok", "version": health["version"], "backend": hub.backend}

    def sizes() -> dict[str, float]:
        text = httpx.get(hub.base + "/metrics").text
        return {
            m[1]: float(m[2])
            for m in re.finditer(r'^smartseoul_store_rows\{table="(\w+)"\} (\S+)$', text, re.M)
        }

    assert sizes() == {"entities": 1.0, "history_rows": 1.0, "tenants": 1.0}
    body["id"] = "urn:ngsi-ld:Thing:m2"
    assert hub.http.post("/entities", json=body).status_code == 201
    assert sizes()["entities"] == 1.0  # the cached count


def test_nul_characters_are_refused_on_every_backend(hub):
    """U+0000 anywhere in a request is 400 BadRequestData and writes nothing; PostgreSQL
    cannot store it, and SQLite answers the same. A backslash followed by "u0000" is text."""

    def entity(value, name="name"):
        return {"id": B1, "type": "Building", name: {"type": "Property", "value": value}}

    def raw(**parts):  # the JSON text as a client sends it, with its \u0000 escapes
        return {"content": json.dumps(parts["body"]).encode(), "headers": JSON}

    refused = [
        hub.http.post("/entities", **raw(body=entity("a\x00b"))),
        hub.http.post("/entities", **raw(body=entity("x", name="na\x00me"))),
        hub.http.post("/entityOperations/upsert", **raw(body=[entity(["ok", "\x00"])])),
        hub.http.post("/jsonldContexts", **raw(body={"@context": {"x\x00": EX}})),
        hub.http.get("/entities/urn:ngsi-ld:Building:b%001"),
        hub.http.get("/entities", params={"type": "Building", "id": "urn:a:\x00"}),
        hub.http.get("/entities", params={"type": "Build\x00ing"}),
        hub.http.get("/jsonldContexts/urn:x%00"),
    ]
    # The city services answer ProblemDetails too, and share the rule.
    refused.append(httpx.get(hub.base + "/cyber/incidents/urn:x%00", timeout=10))
    refused.append(httpx.get(hub.base + "/flood/warnings", params={"gauge": "\x00"}, timeout=10))
    for response in refused:
        body = problem(response, 400, "BadRequestData")
        assert "U+0000" in body["detail"]
    assert hub.http.get(f"/entities/{B1}").status_code == 404
    contexts = hub.http.get("/jsonldContexts", params={"kind": "Hosted"}).json()
    assert contexts == []

    text = "a\\u0000b"  # six characters after the a: no NUL
    assert hub.http.post("/entities", **raw(body=entity(text))).status_code == 201
    assert hub.http.get(f"/entities/{B1}").json()["name"]["value"] == text


def nested(levels: int, leaf=1, *, objects: bool = False):
    """``levels`` arrays (or objects) around ``leaf``."""
    for _ in range(levels):
        leaf = {"k": leaf} if objects else [leaf]
    return leaf


def sub_chain(levels: int, value) -> dict:
    """An attribute whose sub-attribute ``s`` has its own ``s``, ``levels`` deep; the
    deepest holds ``value``."""
    attr = {"type": "Property", "value": value}
    for _ in range(levels):
        attr = {"type": "Property", "value": 1, "s": attr}
    return attr


def test_values_nested_deeper_than_the_hub_can_write_are_refused(hub):
    """orjson reads bodies nested up to 1,024 levels but writes no more than 255: such a
    value used to pass validation and fail the write with a 500 (a merge or a batch too).
    Values, sub-attribute chains and @contexts nested more than 64 levels are now 400
    BadRequestData, per entity in a batch, and nothing is written."""
    name = {"type": "Property", "value": "n"}
    assert hub.http.post("/entities", json={"id": B1, "type": "Building", "name": name})
    b2 = "urn:ngsi-ld:Building:b2"

    def post(path, body, method="POST", headers=JSON):
        return hub.http.request(method, path, content=json.dumps(body), headers=headers)

    def entity(**attrs):
        return {"id": b2, "type": "Building", **attrs}

    for levels in (65, 300):
        deep, deep_obj = nested(levels), nested(levels, objects=True)
        value = {"type": "Property", "value": deep}
        refused = [
            post("/entities", entity(a=value)),
            post("/entities", entity(a=deep_obj)),
            post("/entities", entity(a=sub_chain(65, 1))),
            post("/entities", entity(a={"type": "JsonProperty", "json": deep_obj})),
            post("/entities", entity(a={"type": "ListProperty", "valueList": deep})),
            post(
                "/entities",
                entity(
                    location={
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [1, 2], "extra": deep},
                    }
                ),
            ),
            post(f"/entities/{B1}/attrs", {"a": value}),
            post(f"/entities/{B1}/attrs", {"name": value}, method="PATCH"),
            post(f"/entities/{B1}/attrs/name", value, method="PUT"),
            post(f"/entities/{B1}", {"name": value}, method="PATCH"),
            post(
                "/temporal/entities",
                entity(a=[{**value, "observedAt": "2026-01-01T00:00:00Z"}]),
            ),
            post("/jsonldContexts", {"@context": {"x": deep_obj}}),
            post("/entities", entity(**{"@context": [{"x": deep_obj}]}), headers=LD),
        ]
        for response in refused:
            body = problem(response, 400, "BadRequestData")
            assert "nested more than 64 levels deep" in body["detail"], body["detail"]
        batch = post("/entityOperations/upsert", [entity(a=value), {**entity(a=1), "id": B3}])
        assert batch.status_code == 207, batch.text
        result = batch.json()
        assert result["success"] == [B3]
        assert [e["entityId"] for e in result["errors"]] == [b2]
        assert result["errors"][0]["error"]["status"] == 400
    # Nothing of the refused writes is stored.
    assert hub.http.get(f"/entities/{b2}").status_code == 404
    assert hub.http.get(f"/temporal/entities/{b2}").status_code == 404
    assert hub.http.get(f"/entities/{B1}", params={"options": "keyValues"}).json() == {
        "id": B1,
        "type": "Building",
        "name": "n",
    }
    assert hub.http.get("/jsonldContexts", params={"kind": "Hosted"}).json() == []
    # A NUL deeper than Python's recursion limit is found (the walk used to recurse).
    text = '{"id":"urn:a:1","type":"A","a":' + "[" * 1000 + '"\\u0000"' + "]" * 1000 + "}"
    response = hub.http.post("/entities", content=text, headers=JSON)
    assert "U+0000" in problem(response, 400, "BadRequestData")["detail"]


def test_values_nested_64_levels_are_stored_and_read_back(hub):
    """The limit's edge: 64 levels of value inside 64 levels of sub-attributes is written,
    read back whole in every representation, and kept in the history."""
    value = nested(64, objects=True)
    body = {"id": B1, "type": "Building", "a": sub_chain(64, value)}
    assert hub.http.post("/entities", content=json.dumps(body), headers=JSON).status_code == 201

    def deepest(attr, *, concise=False):
        for _ in range(64):
            attr = attr["s"]
        # Concise: a sub-attribute with nothing but its value is that value (clause 4.5.2.3).
        return attr if concise else attr["value"]

    normalized = hub.http.get(f"/entities/{B1}").json()
    assert deepest(normalized["a"]) == value
    concise = hub.http.get(f"/entities/{B1}", params={"options": "concise"}).json()
    assert deepest(concise["a"], concise=True) == value
    temporal = hub.http.get(f"/temporal/entities/{B1}").json()
    assert deepest(temporal["a"][0]) == value
    found = hub.http.post(
        "/entityOperations/query", json={"type": "Query", "entities": [{"type": "Building"}]}
    ).json()
    assert [deepest(e["a"]) for e in found] == [value]


def test_names_longer_than_the_stores_can_index_are_refused(hub):
    """PostgreSQL's B-tree refuses index entries over 2,704 bytes, so an entity id, type,
    attribute name, scope or vocab IRI, a subscription id or endpoint, an @context URL of
    more than 1,024 bytes, or a tenant of more than 256, used to fail the write with a 500
    there. Each is 400 BadRequestData on both backends, and nothing is written."""

    def create(body, headers=JSON):
        return hub.http.post("/entities", content=json.dumps(body), headers=headers)

    long_id = "urn:a:" + "x" * 1019  # 1,025 bytes
    hangul = "가" * 342  # 1,026 bytes in 342 characters
    too_long = [
        (create({"id": long_id, "type": "Building"}), "The entity id"),
        (create({"id": B1, "type": "T" + hangul}), "The entity type"),
        (create({"id": B1, "type": "Building", "a" + hangul: 1}), "The attribute name"),
        (create({"id": B1, "type": "Building", "scope": "/" + hangul}), "A scope"),
        (
            create({"id": B1, "type": "Building", "v": {"type": "VocabProperty", "vocab": hangul}}),
            "A vocab IRI",
        ),
        (create({"id": B1, "type": "Building"}, {**JSON, "NGSILD-Tenant": "t" * 257}), "tenant"),
        (
            hub.http.post(
                "/subscriptions",
                json={
                    "type": "Subscription",
                    "id": long_id,
                    "entities": [{"type": "Building"}],
                    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}},
                },
            ),
            "The subscription id",
        ),
        (
            hub.http.post(
                "/subscriptions",
                json={
                    "type": "Subscription",
                    "entities": [{"type": "Building"}],
                    "notification": {"endpoint": {"uri": "http://127.0.0.1:9/" + "n" * 1010}},
                },
            ),
            "notification.endpoint.uri",
        ),
        (
            create({"id": B1, "type": "Building"}, {**JSON, **link(EX + "c" * 1010)}),
            "An @context URL",
        ),
        # A city service takes the tenant header by the same rule.
        (
            httpx.get(hub.base + "/flood/warnings", headers={"NGSILD-Tenant": "t" * 257}),
            "tenant",
        ),
    ]
    for response, what in too_long:
        assert what in problem(response, 400, "BadRequestData")["detail"]
    assert hub.http.get("/entities", params={"type": "Building"}).json() == []
    assert hub.http.get("/subscriptions").json() == []

    # The limits themselves are accepted, and read back.
    longest = "urn:a:" + "x" * 1018
    tenant = {"NGSILD-Tenant": "t" * 256}
    assert create({"id": longest, "type": "Building"}, {**JSON, **tenant}).status_code == 201
    found = hub.http.get(f"/entities/{longest}", headers=tenant)
    assert found.status_code == 200 and found.json()["id"] == longest


def test_long_text_values_are_stored_and_queried(hub):
    """A text longer than the index keeps (3,000 Hangul syllables, 9,000 bytes of UTF-8
    that do not compress) used to fail on PostgreSQL with a 500, and a whole batch with it.
    It is stored whole, and q compares it whole."""
    text = "".join(chr(0xAC00 + i * 7919 % 11172) for i in range(3000))
    other = text[:-1] + "끝"  # the same index prefix, another text
    entities = [
        {"id": f"urn:ngsi-ld:Building:{i}", "type": "Building", "description": t}
        for i, t in enumerate([text, other, "short"])
    ]
    created = hub.http.post("/entityOperations/create", json=entities)
    assert created.status_code == 201, created.text
    stored = hub.http.get("/entities/urn:ngsi-ld:Building:0", params={"options": "keyValues"})
    assert stored.json()["description"] == text

    def query(q: str) -> list[str]:
        body = {"type": "Query", "entities": [{"type": "Building"}], "q": q}
        response = hub.http.post("/entityOperations/query", json=body)
        assert response.status_code == 200, response.text
        return sorted(e["id"][-1] for e in response.json())

    assert query(f'description=="{text}"') == ["0"]
    assert query(f'description=="{text[:700]}"') == []
    assert query(f'description>"{text[:700]}"') == ["0", "1"]
    assert query('description~="끝$"') == ["1"]
    assert query('description!="short"') == ["0", "1"]


def test_bodies_over_the_configured_size_are_refused_unread(backend, tmp_path):
    """SMARTSEOUL_MAX_BODY_BYTES: the hub, the city services and the IoT agent read each
    body whole, so a body of some GB could take the process down. A larger one is 413 with
    a ProblemDetails body, whether it says its length or comes in chunks, and nothing is
    written; one at the limit is read as before."""
    from conftest import free_port, make_store, running
    from smartseoul.app import create_app
    from smartseoul.config import Settings

    store = make_store(backend, tmp_path)
    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port, max_body_bytes=2000), store=store)

    def entity(size: int) -> bytes:
        head = b'{"id":"' + B1.encode() + b'","type":"Building","name":"'
        return head + b"x" * (size - len(head) - 2) + b'"}'

    def chunks(body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    with running(app, port) as base, httpx.Client(base_url=base, timeout=20) as http:
        api = "/ngsi-ld/v1"
        refused = [
            http.post(f"{api}/entities", content=entity(2001), headers=JSON),
            http.post(f"{api}/entityOperations/upsert", content=b"[" + entity(2000) + b"]"),
            http.post("/safety/hotspots", content=b"{" + b" " * 3000 + b"}", headers=JSON),
            http.post("/api/3/action/package_search", content=b"{" + b" " * 3000 + b"}"),
            # No Content-Length: counted as it arrives.
            http.post("/iot/k1/d1/attrs", content=chunks(b'{"t": "' + b"1" * 3000 + b'"}')),
        ]
        for response in refused:
            assert response.status_code == 413, response.text
            body = response.json()
            assert body["status"] == 413 and body["title"] == "Content Too Large"
            assert "2000 bytes" in body["detail"]
        assert http.get(f"{api}/entities/{B1}").status_code == 404
        created = http.post(f"{api}/entities", content=entity(2000), headers=JSON)
        assert created.status_code == 201, created.text
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


def test_an_unexpected_error_is_a_500_problem_on_a_connection_that_stays_open(
    hub, monkeypatch: pytest.MonkeyPatch
):
    # Starlette answered 500, then re-raised the error to uvicorn, which closed the
    # connection: a client reusing it could get a reset on its next request.
    from smartseoul.hub.entity_ops import EntityOperations

    async def broken(self, tenant: str, entity_id: str) -> dict:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(EntityOperations, "retrieve_entity", broken)
    ports: list[int] = []

    def port(response: httpx.Response) -> None:  # the client's end of the TCP connection
        ports.append(response.extensions["network_stream"].get_extra_info("client_addr")[1])

    with httpx.Client(base_url=hub.api, timeout=30, event_hooks={"response": [port]}) as client:
        body = problem(client.get("/entities/urn:ngsi-ld:X:1"), 500, "InternalError")
        assert body["detail"] == "RuntimeError: disk on fire"
        assert client.get("/types").status_code == 200
        assert client.get("/types").status_code == 200
    assert len(ports) == 3 and len(set(ports)) == 1, ports
