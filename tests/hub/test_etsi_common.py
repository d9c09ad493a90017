"""Common behaviours and @context management as the ETSI NGSI-LD test suite exercises them.

Real HTTP on SQLite and PostgreSQL. The suite sends its own @context from a local http URL:
a compound context, an array naming further remote contexts and a core context, given in a
Link header or in the body. Clauses 5.13 and 6.29-6.30 (@contexts), 6.3.4 (preconditions).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from conftest import context_link, document_server, problem

SUITE = "https://ngsi-ld-test-suite/context#"
CORE_19 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"


class SuiteContexts:
    """The suite's @context documents on 127.0.0.1: ``/test-context.jsonld`` is
    ``[compound, core]``, and ``/compound.jsonld`` names ``/a.jsonld`` and ``/b.jsonld``."""

    def __init__(self, base: str, documents: dict[str, bytes]) -> None:
        self.base, self.documents = base, documents
        self.serve("/a.jsonld", {"Building": SUITE + "Building", "name": SUITE + "name"})
        self.serve("/b.jsonld", {"Vehicle": SUITE + "Vehicle", "speed": SUITE + "speed"})
        self.serve("/compound.jsonld", [self.base + "/a.jsonld", self.base + "/b.jsonld"])
        self.serve("/test-context.jsonld", [self.base + "/compound.jsonld", CORE_19])
        self.url = self.base + "/test-context.jsonld"

    def serve(self, path: str, context: Any) -> None:
        self.documents[path] = orjson.dumps({"@context": context})


@pytest.fixture
def suite() -> Iterator[SuiteContexts]:
    documents: dict[str, bytes] = {}
    with document_server(documents) as base:
        yield SuiteContexts(base, documents)


link = context_link


def test_the_suite_compound_context_in_a_link_or_the_body(hub, suite):
    building = {"id": "urn:ngsi-ld:Building:b1", "type": "Building", "name": "Cheonggye"}
    r = hub.http.post("/entities", json=building, headers=link(suite.url))
    assert r.status_code == 201, r.text
    vehicle = {"id": "urn:ngsi-ld:Vehicle:v1", "type": "Vehicle",
               "speed": {"type": "Property", "value": 30}, "@context": [suite.url]}  # fmt: skip
    r = hub.http.post("/entities", json=vehicle, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text

    full = hub.http.get("/entities/urn:ngsi-ld:Building:b1").json()
    assert full["type"] == SUITE + "Building" and SUITE + "name" in full
    short = hub.http.get("/entities/urn:ngsi-ld:Vehicle:v1", headers=link(suite.url))
    assert short.json() == {"id": "urn:ngsi-ld:Vehicle:v1", "type": "Vehicle",
                            "speed": {"type": "Property", "value": 30}}  # fmt: skip
    assert short.headers["Link"] == link(suite.url)["Link"]
    ld = hub.http.get(
        "/entities/urn:ngsi-ld:Building:b1",
        headers={**link(suite.url), "Accept": "application/ld+json"},
    )
    assert ld.headers["Content-Type"] == "application/ld+json" and "Link" not in ld.headers
    assert ld.json()["@context"] == suite.url and ld.json()["name"]["value"] == "Cheonggye"

    # Every remote document was fetched and is listed as Cached; the core one never is.
    cached = hub.http.get("/jsonldContexts", params={"kind": "Cached"}).json()
    assert sorted(cached) == sorted(
        suite.base + p
        for p in ("/test-context.jsonld", "/compound.jsonld", "/a.jsonld", "/b.jsonld")
    )


def test_a_cached_context_is_described_not_served_and_reloads(hub, suite):
    assert hub.http.get(
        "/entities", params={"type": "Building"}, headers=link(suite.url)
    ).is_success
    by_url = "/jsonldContexts/" + quote(suite.base + "/a.jsonld", safe="")
    problem(hub.http.get(by_url), 422, "OperationNotSupported")  # clause 5.13.4.4
    details = hub.http.get(by_url, params={"details": "true"}).json()
    assert details["kind"] == "Cached" and details["URL"] == suite.base + "/a.jsonld"
    assert {"localId", "createdAt"} <= set(details)

    assert hub.http.delete(by_url, params={"reload": "true"}).status_code == 204
    del suite.documents["/a.jsonld"]
    # Clause 5.13.5.4: a failed download is LdContextNotAvailable and keeps the entry.
    problem(hub.http.delete(by_url, params={"reload": "true"}), 504, "LdContextNotAvailable")
    assert hub.http.get(by_url, params={"details": "true"}).status_code == 200
    suite.documents["/a.jsonld"] = b"<html>moved</html>"
    problem(hub.http.delete(by_url, params={"reload": "true"}), 504, "LdContextNotAvailable")
    assert hub.http.delete(by_url).status_code == 204
    problem(hub.http.get(by_url, params={"details": "true"}), 404, "ResourceNotFound")


def test_a_remote_context_that_is_not_json_is_not_available(hub, suite):
    """An HTML page (a portal, a "not found" page sent with 200) cannot be loaded as a
    context: LdContextNotAvailable, 504 in V1.9.1 (JSON-LD 1.1 API "loading remote context
    failed"). It used to be 400 BadRequestData, which says the client's data is wrong."""
    suite.documents["/p.html"] = b"<!doctype html><title>Not here</title>"
    for response in (
        hub.http.get(
            "/entities", params={"type": "Building"}, headers=link(suite.base + "/p.html")
        ),
        hub.http.post(
            "/entities",
            json={
                "id": "urn:ngsi-ld:Building:b9",
                "type": "B",
                "@context": [suite.base + "/p.html"],
            },
            headers={"Content-Type": "application/ld+json"},
        ),
    ):
        problem(response, 504, "LdContextNotAvailable")
    problem(hub.http.get("/entities/urn:ngsi-ld:Building:b9"), 404, "ResourceNotFound")


@pytest.mark.parametrize("accept", ["text/html", "application/geo+json", "application/json;q=0"])
def test_context_reads_check_accept(hub, accept):
    """Clause 6.3.4: every GET checks Accept; the @context resources answered anything."""
    created = hub.http.post("/jsonldContexts", json={"@context": {"Road": "https://ex.org/Road"}})
    hosted = created.headers["Location"].split("/ngsi-ld/v1", 1)[1]
    for path in ("/jsonldContexts", hosted):
        response = hub.http.get(path, headers={"Accept": accept})
        assert response.status_code == 406, response.text
        assert "application/json" in response.text
        assert hub.http.get(path, headers={"Accept": "*/*"}).status_code == 200


def test_context_answers_echo_the_tenant(hub):
    """Clause 6.3.14: an NGSILD-Tenant request header is in every answer, @context
    operations too (they answered without it)."""
    tenant = {"NGSILD-Tenant": "gangnam"}
    created = hub.http.post("/jsonldContexts", json={"@context": {"R": "https://ex.org/R"}},
                            headers=tenant)  # fmt: skip
    assert created.status_code == 201 and created.headers["NGSILD-Tenant"] == "gangnam"
    hosted = created.headers["Location"].split("/ngsi-ld/v1", 1)[1]
    for response in (
        hub.http.get("/jsonldContexts", headers=tenant),
        hub.http.get(hosted, headers=tenant),
        hub.http.get(hosted, params={"details": "true"}, headers=tenant),
        hub.http.delete(hosted, headers=tenant),
    ):
        assert response.is_success and response.headers["NGSILD-Tenant"] == "gangnam"
    assert "NGSILD-Tenant" not in hub.http.get("/jsonldContexts").headers
