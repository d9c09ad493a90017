"""Entities as the ETSI NGSI-LD conformance suite drives them, over real HTTP, on SQLite
and PostgreSQL: its compound test @context served from a local URL, its Building and
Vehicle entities, and the cases where the hub once differed from the spec's text.

Clauses 6.5.2 and 6.7.2 (resource URIs), 5.6.x (provision), 5.7.x (consumption).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from conftest import context_link, document_server, problem

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
SUITE = "https://ngsi-ld-test-suite/context#"
TERMS = {
    "@context": {
        "Building": SUITE + "Building",
        "Vehicle": SUITE + "Vehicle",
        "name": SUITE + "name",
        "speed": SUITE + "speed",
        "isParked": {"@id": SUITE + "isParked", "@type": "@id"},
    }
}


@pytest.fixture(scope="module")
def suite_context() -> Iterator[str]:
    """The suite's compound @context: a document whose @context is an array naming its
    term document and the core @context, both by URL (as the suite serves them)."""
    documents: dict[str, bytes] = {"/ngsi-ld-test-suite.jsonld": json.dumps(TERMS).encode()}
    with document_server(documents) as base:
        documents["/ngsi-ld-test-suite-compound.jsonld"] = json.dumps(
            {"@context": [f"{base}/ngsi-ld-test-suite.jsonld", CORE]}
        ).encode()
        yield f"{base}/ngsi-ld-test-suite-compound.jsonld"


link = context_link


def ld_post(hub, path: str, body: dict, context: str):
    return hub.http.post(
        path,
        content=json.dumps({**body, "@context": context}),
        headers={"Content-Type": "application/ld+json"},
    )


# -- resource URIs (clauses 6.5.2, 6.7.2) --------------------------------------------------
def test_an_entity_id_with_slashes_is_addressable_at_its_location(hub, suite_context):
    """An entity id is any URI, an http one included; its "/" are percent-encoded in
    /entities/{entityId}. They used to be decoded before routing: the entity was created
    but every request on its Location answered 404 "No resource"."""
    entity_id = "http://example.org/city/Building/1"
    created = ld_post(hub, "/entities", {"id": entity_id, "type": "Building"}, suite_context)
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert location == "/ngsi-ld/v1/entities/" + quote(entity_id, safe=":")
    path = location.removeprefix("/ngsi-ld/v1")
    headers = link(suite_context)

    appended = hub.http.post(
        path + "/attrs", json={"name": {"type": "Property", "value": "Eiffel"}}, headers=headers
    )
    assert appended.status_code == 204, appended.text
    merged = hub.http.patch(path, json={"speed": {"type": "Property", "value": 5}}, headers=headers)
    assert merged.status_code == 204, merged.text
    got = hub.http.get(path, headers=headers)
    assert got.status_code == 200, got.text
    assert got.json() == {
        "id": entity_id,
        "type": "Building",
        "name": {"type": "Property", "value": "Eiffel"},
        "speed": {"type": "Property", "value": 5},
    }
    assert got.headers["link"] == headers["Link"]

    # A method the resource does not have is a 405 (clause 6.3.2).
    problem(hub.http.post(path, json={}), 405, "InvalidRequest")
    problem(hub.http.get(path + "/other"), 404, "ResourceNotFound")

    deleted = hub.http.delete(path)
    assert deleted.status_code == 204, deleted.text
    problem(hub.http.get(path), 404, "ResourceNotFound")


def test_an_encoded_slash_never_reads_as_a_path_separator(hub):
    """An id ending in "/attrs" is an entity, not the attrs resource of a shorter id."""
    for entity_id in ("urn:ngsi-ld:Building:b", "urn:ngsi-ld:Building:b/attrs"):
        body = {"id": entity_id, "type": "Building", "name": {"type": "Property", "value": 1}}
        assert hub.http.post("/entities", json=body).status_code == 201
    path = "/entities/" + quote("urn:ngsi-ld:Building:b/attrs", safe=":")
    merged = hub.http.patch(path, json={"name": {"type": "Property", "value": 2}})
    assert merged.status_code == 204, merged.text
    assert hub.http.get(path).json()["name"]["value"] == 2
    assert hub.http.get("/entities/urn:ngsi-ld:Building:b").json()["name"]["value"] == 1


def test_an_attribute_given_by_its_full_uri_in_the_path(hub, suite_context):
    """/entities/{entityId}/attrs/{attrId} takes the attribute's full URI as well as its
    term (clause 6.7.2, expansion per 5.5.7); the URI's "/" used to break the route."""
    entity_id = "urn:ngsi-ld:Building:b1"
    body = {"id": entity_id, "type": "Building", "name": {"type": "Property", "value": "A"}}
    assert ld_post(hub, "/entities", body, suite_context).status_code == 201
    attr = f"/entities/{entity_id}/attrs/{quote(SUITE + 'name', safe='')}"

    patched = hub.http.patch(attr, json={"value": "B"})
    assert patched.status_code == 204, patched.text
    replaced = hub.http.put(attr, json={"type": "Property", "value": "C"})
    assert replaced.status_code == 204, replaced.text
    got = hub.http.get(f"/entities/{entity_id}", headers=link(suite_context)).json()
    assert got["name"] == {"type": "Property", "value": "C"}

    problem(hub.http.post(attr, json={}), 405, "InvalidRequest")
    assert hub.http.delete(attr).status_code == 204
    problem(hub.http.delete(attr), 404, "ResourceNotFound")
    assert "name" not in hub.http.get(f"/entities/{entity_id}", headers=link(suite_context)).json()


def test_ids_with_slashes_on_the_temporal_and_subscription_resources(hub):
    """The same holds for /temporal/entities/{entityId} (clause 6.19) and
    /subscriptions/{subscriptionId} (6.11): any URI, "/" and "%" (as %25) included."""
    entity_id = "http://example.org/city/Gauge/50%25"
    path = "/temporal/entities/" + quote(entity_id, safe=":")
    body = {"id": entity_id, "type": "Gauge",
            "level": [{"type": "Property", "value": v, "observedAt": f"2026-01-01T0{v}:00:00Z"}
                      for v in (1, 2)]}  # fmt: skip
    created = hub.http.post("/temporal/entities", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/ngsi-ld/v1" + path
    got = hub.http.get(path, params={"options": "temporalValues"})
    assert got.status_code == 200, got.text
    assert got.json()["id"] == entity_id
    assert [v for v, _ in got.json()["level"]["values"]] == [1, 2]
    assert hub.http.delete(path + "/attrs/level").status_code == 204
    assert hub.http.delete(path).status_code == 204
    problem(hub.http.get(path), 404, "ResourceNotFound")

    sub_id = "http://example.org/city/subscriptions/1"
    sub = {"id": sub_id, "type": "Subscription", "entities": [{"type": "Gauge"}],
           "notification": {"endpoint": {"uri": "http://127.0.0.1:1/notify"}}}  # fmt: skip
    assert hub.http.post("/subscriptions", json=sub).status_code == 201
    path = "/subscriptions/" + quote(sub_id, safe=":")
    assert hub.http.get(path).json()["id"] == sub_id
    assert hub.http.patch(path, json={"isActive": False}).status_code == 204
    assert hub.http.get(path).json()["isActive"] is False
    assert hub.http.delete(path).status_code == 204
    problem(hub.http.get(path), 404, "ResourceNotFound")


def test_405_names_the_methods_of_the_resource_only(hub):
    """Allow (IETF RFC 9110 15.5.6, clause 6.3.2) listed GET and HEAD on paths of four
    segments or more too: the Open Data Plaza's catch-all after /ngsi-ld/v1 was counted."""
    body = {"id": "urn:ngsi-ld:Building:b", "type": "Building", "name": {"type": "Property", "value": 1}}
    assert hub.http.post("/entities", json=body).status_code == 201
    cases = {
        "/entities/urn:ngsi-ld:Building:b/attrs/name": "DELETE, PATCH, PUT",
        "/entityOperations/create": "POST",
        "/entities/" + quote("http://example.org/b", safe=":"): "DELETE, GET, HEAD, PATCH, PUT",
    }
    for path, allowed in cases.items():
        method = "GET" if "GET" not in allowed else "POST"
        answer = hub.http.request(method, path)
        problem(answer, 405, "InvalidRequest")
        assert answer.headers["allow"] == allowed, path


def test_merge_goes_into_a_language_map(hub, suite_context):
    """Merge patch "up to an arbitrary depth" (clause 5.5.12): a languageMap is merged
    like a JSON object value, a Null removing one language. It was replaced whole, with
    the Null stored as a string."""
    entity = {"id": "urn:ngsi-ld:Building:lm", "type": "Building",
              "name": {"type": "LanguageProperty", "languageMap": {"fr": "rue", "en": "street"}}}  # fmt: skip
    assert ld_post(hub, "/entities", entity, suite_context).status_code == 201
    patch = {"name": {"type": "LanguageProperty",
                      "languageMap": {"fr": "urn:ngsi-ld:null", "de": "Strasse"}}}  # fmt: skip
    merged = hub.http.patch(f"/entities/{entity['id']}", json=patch, headers=link(suite_context))
    assert merged.status_code == 204, merged.text
    got = hub.http.get(f"/entities/{entity['id']}", headers=link(suite_context)).json()
    assert got["name"] == {"type": "LanguageProperty", "languageMap": {"en": "street", "de": "Strasse"}}
