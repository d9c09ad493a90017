"""The temporal API as the ETSI conformance suite drives it, over real HTTP on both backends.

Requests carry the suite's kind of @context: a compound context, served from a local
http URL, that names a further remote context and the core context; bodies are sent as
``application/ld+json`` with an in-body ``@context`` or as ``application/json`` with a
``Link`` header. Clauses 5.6.11-5.6.16, 5.7.3, 5.7.4, 6.3.10, 6.18-6.22, 6.24.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import context_link, document_server, problem

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
REL = "http://www.w3.org/ns/json-ld#context"
NS = "https://ngsi-ld-test-suite/context#"
TERMS = {
    "Vehicle": NS + "Vehicle",
    "speed": NS + "speed",
    "fuelLevel": NS + "fuelLevel",
    "name": NS + "name",
    "isParked": {"@id": NS + "isParked", "@type": "@id"},
    "category": {"@id": NS + "category", "@type": "@vocab"},
}
T = ["2020-08-01T12:03:00Z", "2020-08-01T12:05:00Z", "2020-08-01T12:07:00Z"]
AFTER = {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"}


@pytest.fixture(scope="module")
def suite_context() -> Iterator[str]:
    """The URL of a compound @context like the suite's: an array naming another remote
    context (the suite's terms) and the core context."""

    documents = {"/ngsi-ld-test-suite-context.jsonld": json.dumps({"@context": TERMS}).encode()}
    with document_server(documents) as base:
        documents["/ngsi-ld-test-suite-compound.jsonld"] = json.dumps(
            {"@context": [base + "/ngsi-ld-test-suite-context.jsonld", CORE]}
        ).encode()
        yield base + "/ngsi-ld-test-suite-compound.jsonld"


link = context_link


def vehicle(number: int, speeds=(120, 80, 100)) -> dict:
    return {
        "id": f"urn:ngsi-ld:Vehicle:{number:03d}",
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": v, "observedAt": t}
            for v, t in zip(speeds, T, strict=False)
        ],
    }


def create(hub, context: str, *bodies: dict) -> None:
    for body in bodies:
        response = hub.http.post(
            "/temporal/entities",
            json={**body, "@context": [context]},
            headers={"Content-Type": "application/ld+json"},
        )
        assert response.status_code == 201, response.text


def query(hub, context: str, **params):
    response = hub.http.get("/temporal/entities", params=params, headers=link(context))
    assert response.status_code == 200, response.text
    return response


def page_links(response) -> dict[str, dict[str, str]]:
    """rel -> the query parameters of the Link header's prev / next pages (clause 6.3.10)."""
    found = {}
    for value in response.headers.get_list("link"):
        target, *attributes = (part.strip() for part in value.split(";"))
        rel = dict(a.split("=", 1) for a in attributes)["rel"].strip('"')
        if rel in ("prev", "next"):
            assert 'type="application/json"' in attributes
            url = urlsplit(target.strip("<>"))
            found[rel] = {k: v[0] for k, v in parse_qs(url.query).items()} | {"path": url.path}
    return found


def test_upsert_then_retrieve_with_the_suite_context(hub, suite_context):
    """201 with Location, then 204 for the same id (clause 6.18.3.1); the answer is
    compacted with the context of the request and carries it (clause 6.3.6)."""
    body = {**vehicle(1), "isParked": [
        {"type": "Relationship", "object": "urn:ngsi-ld:Park:1", "observedAt": T[0]},
    ]}  # fmt: skip
    ld = {"Content-Type": "application/ld+json"}
    created = hub.http.post(
        "/temporal/entities", json={**body, "@context": [suite_context]}, headers=ld
    )
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vehicle:001"
    more = {"id": body["id"], "type": "Vehicle", "fuelLevel": [
        {"type": "Property", "value": 67, "observedAt": T[1]},
    ], "@context": [suite_context]}  # fmt: skip
    again = hub.http.post("/temporal/entities", json=more, headers=ld)
    assert again.status_code == 204 and again.content == b""
    response = hub.http.get(
        f"/temporal/entities/{body['id']}",
        params={"options": "temporalValues"},
        headers={**link(suite_context), "Accept": "application/ld+json"},
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/ld+json"
    assert response.json() == {
        "@context": suite_context,
        "id": "urn:ngsi-ld:Vehicle:001",
        "type": "Vehicle",
        "speed": {"type": "Property", "values": [[120, T[0]], [80, T[1]], [100, T[2]]]},
        "isParked": {"type": "Relationship", "objects": [["urn:ngsi-ld:Park:1", T[0]]]},
        "fuelLevel": {"type": "Property", "values": [[67, T[1]]]},
    }


def test_post_query_with_a_body_context_links_a_context_that_compacts_the_answer(
    hub, suite_context
):
    """POST /temporal/entityOperations/query with the @context in the body and an
    application/json answer: the answer's terms are those of the body's context, so its
    Link header must name that context (a copy this broker serves), not the core context
    (clauses 6.3.6, 5.13.2)."""
    create(hub, suite_context, vehicle(1))
    body = {
        "type": "Query",
        "entities": [{"type": "Vehicle"}],
        "temporalQ": {**AFTER, "lastN": 1},
        "@context": [suite_context],
    }
    response = hub.http.post(
        "/temporal/entityOperations/query",
        json=body,
        params={"format": "temporalValues"},
        headers={"Content-Type": "application/ld+json", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == [
        {
            "id": "urn:ngsi-ld:Vehicle:001",
            "type": "Vehicle",
            "speed": {"type": "Property", "values": [[100, T[2]]]},
        }
    ]
    (context_link,) = response.headers.get_list("link")
    url = context_link.split(";")[0].strip("<>")
    assert url != CORE and f'rel="{REL}"' in context_link
    served = hub.http.get(url.removeprefix(hub.api))
    assert served.status_code == 200, served.text
    # Read with the linked context, the answer names the suite's IRIs.
    again = hub.http.get(
        "/temporal/entities/urn:ngsi-ld:Vehicle:001",
        params={"lastN": "1", "options": "temporalValues"},
        headers=link(url),
    )
    assert set(again.json()) == {"id", "type", "speed"}
    # With an application/ld+json answer the context is the one the client sent.
    as_ld = hub.http.post(
        "/temporal/entityOperations/query",
        json=body,
        headers={"Content-Type": "application/ld+json", "Accept": "application/ld+json"},
    )
    assert [e["@context"] for e in as_ld.json()] == [[suite_context]]


@pytest.mark.parametrize("via", ["GET", "POST"])
def test_query_pages_carry_prev_and_next_links(hub, suite_context, via):
    """Clause 6.3.10: a page of a temporal query links the previous and the next pages
    (Link rel="prev" / rel="next", type = the requested media type)."""
    create(hub, suite_context, *(vehicle(n) for n in range(1, 4)))
    # One entity whose instances are all outside the time range matches nothing.
    create(hub, suite_context, {**vehicle(4), "speed": [
        {"type": "Property", "value": 1, "observedAt": "2019-01-01T00:00:00Z"},
    ]})  # fmt: skip

    def page(offset: int):
        paging = {"limit": "1", "offset": str(offset)}
        if offset == 0:  # the others find "next" without counting every match
            paging["count"] = "true"
        if via == "GET":
            return query(hub, suite_context, type="Vehicle", **AFTER, **paging)
        body = {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": AFTER}
        response = hub.http.post(
            "/temporal/entityOperations/query",
            json=body,
            params=paging,
            headers=link(suite_context),
        )
        assert response.status_code == 200, response.text
        return response

    first, middle, last = page(0), page(1), page(2)
    assert [r.json()[0]["id"] for r in (first, middle, last)] == [
        f"urn:ngsi-ld:Vehicle:00{n}" for n in (1, 2, 3)
    ]
    assert first.headers["NGSILD-Results-Count"] == "3"
    path = "/ngsi-ld/v1/temporal/" + ("entities" if via == "GET" else "entityOperations/query")
    links = page_links(middle)
    assert links["prev"]["path"] == links["next"]["path"] == path
    assert (links["prev"]["offset"], links["prev"]["limit"]) == ("0", "1")
    assert (links["next"]["offset"], links["next"]["limit"]) == ("2", "1")
    assert set(page_links(first)) == {"next"}
    assert set(page_links(last)) == {"prev"}  # the fourth vehicle is out of the range
    if via == "GET":  # the next link gives the next page
        following = hub.http.get(links["next"]["path"].removeprefix("/ngsi-ld/v1"),
                                 params={k: v for k, v in links["next"].items() if k != "path"},
                                 headers=link(suite_context))  # fmt: skip
        assert [e["id"] for e in following.json()] == ["urn:ngsi-ld:Vehicle:003"]


def test_query_orders_by_id_only(hub, suite_context):
    """Clause 5.7.4.4: temporal entities may be ordered by "id" (local scope), any other
    ordering is BadRequestData; clause 5.2.23 gives the same in a Query's ordering."""
    create(hub, suite_context, vehicle(2), vehicle(3), vehicle(1))
    ids = ["urn:ngsi-ld:Vehicle:001", "urn:ngsi-ld:Vehicle:002", "urn:ngsi-ld:Vehicle:003"]
    asc = query(hub, suite_context, type="Vehicle", local="true", orderBy="id", **AFTER)
    assert [e["id"] for e in asc.json()] == ids
    desc = query(hub, suite_context, type="Vehicle", local="true", orderBy="id;desc", **AFTER)
    assert [e["id"] for e in desc.json()] == ids[::-1]
    paged = query(hub, suite_context, type="Vehicle", local="true", orderBy="id;desc",
                  limit="1", offset="1", **AFTER)  # fmt: skip
    assert [e["id"] for e in paged.json()] == [ids[1]]
    for order_by in ("speed", "type", "id,speed;desc"):
        response = hub.http.get(
            "/temporal/entities",
            params={"type": "Vehicle", "local": "true", "orderBy": order_by, **AFTER},
            headers=link(suite_context),
        )
        problem(response, 400, "BadRequestData")
    body = {
        "type": "Query",
        "entities": [{"type": "*"}],
        "temporalQ": AFTER,
        "ordering": {"orderBy": "id;desc"},
    }
    response = hub.http.post(
        "/temporal/entityOperations/query", json=body, headers=link(suite_context)
    )
    assert [e["id"] for e in response.json()] == ids[::-1]
    body["ordering"] = {"orderBy": "speed"}
    response = hub.http.post(
        "/temporal/entityOperations/query", json=body, headers=link(suite_context)
    )
    problem(response, 400, "BadRequestData")


def test_dataset_ids_must_be_uris_or_none(hub, suite_context):
    """Tables 6.18.3.2-1 and 6.19.3.1-1: datasetId values shall be valid URIs, or @none."""
    gps = {
        "type": "Property",
        "value": 7,
        "observedAt": T[0],
        "datasetId": "urn:ngsi-ld:Dataset:gps",
    }
    create(hub, suite_context, {**vehicle(1), "speed": [*vehicle(1)["speed"], gps]})
    path = "/temporal/entities/urn:ngsi-ld:Vehicle:001"
    for params in ({"datasetId": "gps"}, {"datasetId": "urn:ngsi-ld:Dataset:gps,gps"}):
        problem(
            hub.http.get(path, params=params, headers=link(suite_context)), 400, "BadRequestData"
        )
        response = hub.http.get(
            "/temporal/entities",
            params={"type": "Vehicle", **AFTER, **params},
            headers=link(suite_context),
        )
        problem(response, 400, "BadRequestData")
    out = hub.http.get(
        path, params={"datasetId": "urn:ngsi-ld:Dataset:gps"}, headers=link(suite_context)
    )
    assert [i["value"] for i in out.json()["speed"]] == [7]
    out = hub.http.get(path, params={"datasetId": "@none"}, headers=link(suite_context))
    assert [i["value"] for i in out.json()["speed"]] == [120, 80, 100]


def test_query_attrs_select_entities_that_have_them_when_q_filters(hub, suite_context):
    """Clause 5.7.4.3: an entity is selected only if at least one of ``attrs`` has
    instances (in the time range); ``q`` on another attribute does not change that."""
    named = {**vehicle(2), "name": [{"type": "Property", "value": "Bus", "observedAt": T[0]}]}
    create(hub, suite_context, vehicle(1), named)
    params = {"type": "Vehicle", "attrs": "name", **AFTER}
    assert [e["id"] for e in query(hub, suite_context, **params).json()] == [
        "urn:ngsi-ld:Vehicle:002"
    ]
    found = query(hub, suite_context, q="speed>90", count="true", **params)
    assert [e["id"] for e in found.json()] == ["urn:ngsi-ld:Vehicle:002"]
    assert found.headers["NGSILD-Results-Count"] == "1"
    assert set(found.json()[0]) == {"id", "type", "name"}


def test_query_body_projections_are_non_empty_string_arrays(hub, suite_context):
    """Clause 5.2.23: a Query's attrs, pick and omit are String[] and an empty array is not
    allowed (BadRequestData), as in POST /entityOperations/query."""
    create(hub, suite_context, vehicle(1))
    base = {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": AFTER}
    for key in ("attrs", "pick", "omit"):
        for bad in ([], "speed", [1]):
            response = hub.http.post(
                "/temporal/entityOperations/query",
                json={**base, key: bad},
                headers=link(suite_context),
            )
            problem(response, 400, "BadRequestData")
    good = {**base, "attrs": ["speed"], "omit": ["type"]}
    response = hub.http.post(
        "/temporal/entityOperations/query", json=good, headers=link(suite_context)
    )
    assert [set(e) for e in response.json()] == [{"id", "speed"}]


def test_a_comma_as_the_decimal_separator_of_request_times(hub, suite_context):
    """Clause 4.6.3: in requests a comma may stand for the decimal point of the seconds.
    Such times in timeAt and observedAt were 400 BadRequestData."""
    body = vehicle(1)
    body["speed"].append({"type": "Property", "value": 60, "observedAt": "2020-08-01T12:09:00,5Z"})
    create(hub, suite_context, body)
    after = query(hub, suite_context, type="Vehicle", timerel="after",
                  timeAt="2020-08-01T12:06:59,75Z", options="temporalValues")  # fmt: skip
    (found,) = after.json()
    assert found["speed"]["values"] == [[100, T[2]], [60, "2020-08-01T12:09:00,5Z"]]
