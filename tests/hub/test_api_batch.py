"""Batch entity operations over real HTTP, on SQLite and PostgreSQL.

Clauses 5.6.7 to 5.6.10 and 5.6.20 (behaviour), 5.5.11 (an entity more than once in a
batch), 5.2.16 / 5.2.17 (BatchOperationResult), 6.14 to 6.17 and 6.31 (HTTP binding).
"""

from __future__ import annotations

import pytest

ERR = "https://uri.etsi.org/ngsi-ld/errors/"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
NULL = "urn:ngsi-ld:null"
E1, E2, E3 = (f"urn:ngsi-ld:Building:{n}" for n in (1, 2, 3))


def entity(entity_id: str, **attrs) -> dict:
    return {"id": entity_id, "type": "Building", **attrs}


def post(hub, op: str, body, **kw):
    return hub.http.post(f"/entityOperations/{op}", json=body, **kw)


def get(hub, entity_id: str, **params) -> dict:
    response = hub.http.get(f"/entities/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def missing(hub, entity_id: str) -> bool:
    return hub.http.get(f"/entities/{entity_id}").status_code == 404


def multi_status(response) -> dict:
    """A 207 BatchOperationResult: application/json, no Link (clause 6.3.6)."""
    assert response.status_code == 207, response.text
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    body = response.json()
    assert set(body) == {"success", "errors"}
    for error in body["errors"]:
        assert set(error) == {"entityId", "error"}
        problem = error["error"]
        assert problem["type"].startswith(ERR)
        assert problem["title"] and problem["detail"] and problem["status"] >= 400
    return body


def error_kinds(body: dict) -> list[tuple[str, str]]:
    return [(e["entityId"], e["error"]["type"].removeprefix(ERR)) for e in body["errors"]]


def no_content(response) -> None:
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert "content-length" not in response.headers


def bad_request(response, kind: str = "BadRequestData") -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["type"] == ERR + kind


# -- batch create (5.6.7, 6.14) --------------------------------------------------------------
def test_create_all_is_201_with_the_ids(hub):
    response = post(hub, "create", [entity(E1, name="a"), entity(E2, name="b")])
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    assert response.json() == [E1, E2]
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "name": "a"}
    assert get(hub, E2, options="keyValues") == {"id": E2, "type": "Building", "name": "b"}


def test_create_repeated_entity_keeps_the_first(hub):
    """Clause 5.5.11.1: later occurrences are AlreadyExists errors."""
    body = [entity(E1, name="first"), entity(E2), entity(E1, name="second")]
    result = multi_status(post(hub, "create", body))
    assert result["success"] == [E1, E2]
    assert error_kinds(result) == [(E1, "AlreadyExists")]
    assert get(hub, E1)["name"]["value"] == "first"


def test_create_partial_failure(hub):
    post(hub, "create", [entity(E1)])
    body = [
        entity(E1),
        entity(E2, bad={"type": "Relationship", "object": "not a uri"}),
        {"id": "not a uri", "type": "Building"},
        entity(E3, name="c"),
    ]
    result = multi_status(post(hub, "create", body))
    assert result["success"] == [E3]
    assert sorted(error_kinds(result)) == sorted(
        [(E1, "AlreadyExists"), (E2, "BadRequestData"), ("not a uri", "BadRequestData")]
    )
    assert missing(hub, E2)
    assert get(hub, E3)["name"]["value"] == "c"


def test_create_all_failing_is_207_with_empty_success(hub):
    result = multi_status(post(hub, "create", [{"type": "Building"}]))
    assert result["success"] == []
    assert [e["error"]["type"] for e in result["errors"]] == [ERR + "BadRequestData"]


@pytest.mark.parametrize("op", ["create", "upsert", "update", "merge", "delete"])
@pytest.mark.parametrize(
    "body", [[], [None], [entity(E1), None], {"id": E1, "type": "Building"}, "x"]
)
def test_empty_null_or_non_array_batch_is_400(hub, op, body):
    """Clauses 5.6.7.4 to 5.6.10.4: an empty array or a null item is a BadRequestData."""
    if op == "delete" and isinstance(body, list) and body and body[0] is not None:
        body = [E1, None]
    bad_request(post(hub, op, body))
    assert missing(hub, E1)


def test_create_with_ld_json_contexts_per_entity(hub):
    ctx = {"name": "https://example.org/name", "Building": "https://example.org/Building"}
    body = [
        {**entity(E1, name="a"), "@context": [ctx, CORE]},
        {**entity(E2, name="b"), "@context": CORE},
    ]
    response = post(hub, "create", body, headers={"Content-Type": "application/ld+json"})
    assert response.status_code == 201, response.text
    assert get(hub, E1, options="keyValues") == {
        "id": E1,
        "type": "https://example.org/Building",
        "https://example.org/name": "a",
    }
    assert get(hub, E2, options="keyValues") == {"id": E2, "type": "Building", "name": "b"}
    missing_context = [entity(E3)]
    bad_request(
        post(hub, "create", missing_context, headers={"Content-Type": "application/ld+json"})
    )


def test_batch_create_makes_a_new_tenant(hub):
    headers = {"NGSILD-Tenant": "batchland"}
    response = post(hub, "create", [entity(E1)], headers=headers)
    assert response.status_code == 201
    assert response.headers["ngsild-tenant"] == "batchland"
    assert hub.http.get(f"/entities/{E1}", headers=headers).status_code == 200
    assert missing(hub, E1)


# -- batch upsert (5.6.8, 6.15) --------------------------------------------------------------
def test_upsert_creates_then_updates(hub):
    response = post(hub, "upsert", [entity(E1, a=1), entity(E2, a=2)])
    assert response.status_code == 201 and response.json() == [E1, E2]
    no_content(post(hub, "upsert", [entity(E1, a=3), entity(E2, b=4)]))
    # Default mode "replace": the existing content is replaced.
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "a": 3}
    assert get(hub, E2, options="keyValues") == {"id": E2, "type": "Building", "b": 4}
    response = post(hub, "upsert", [entity(E1, a=5), entity(E3, c=6)])
    assert response.status_code == 201
    assert response.json() == [E3]  # only the created ones


def test_upsert_update_mode_keeps_other_attributes(hub):
    post(hub, "upsert", [entity(E1, a=1, b=2, scope="/Seoul")])
    no_content(
        post(
            hub,
            "upsert",
            [{"id": E1, "type": "Office", "b": 3, "c": 4, "scope": "/Busan"}],
            params={"options": "update"},
        )
    )
    assert get(hub, E1, options="keyValues") == {
        "id": E1,
        "type": ["Building", "Office"],
        "scope": "/Busan",
        "a": 1,
        "b": 3,
        "c": 4,
    }
    no_content(post(hub, "upsert", [entity(E1, z=0)], params={"options": "replace"}))
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "z": 0}


def test_upsert_repeated_entity_applies_in_order(hub):
    """Clause 5.5.11.2: the first creates, later ones replace (default) or update."""
    body = [entity(E1, a=1, b=1), entity(E1, a=2), entity(E2, x=1), entity(E2, x=2, y=1)]
    response = post(hub, "upsert", body)
    assert response.status_code == 201 and response.json() == [E1, E2]
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "a": 2}
    assert get(hub, E2, options="keyValues") == {"id": E2, "type": "Building", "x": 2, "y": 1}
    no_content(
        post(hub, "upsert", [entity(E1, b=5), entity(E1, c=6)], params={"options": "update"})
    )
    assert get(hub, E1, options="keyValues") == {
        "id": E1,
        "type": "Building",
        "a": 2,
        "b": 5,
        "c": 6,
    }


def test_upsert_partial_failure(hub):
    post(hub, "upsert", [entity(E1, a=1)])
    result = multi_status(post(hub, "upsert", [entity(E1, a=2), entity(E2, a=None)]))
    assert result["success"] == [E1]
    assert error_kinds(result) == [(E2, "BadRequestData")]
    assert get(hub, E1)["a"]["value"] == 2
    assert missing(hub, E2)


def test_upsert_bad_options(hub):
    bad_request(
        post(hub, "upsert", [entity(E1)], params={"options": "noOverwrite"}), "InvalidRequest"
    )
    bad_request(post(hub, "upsert", [entity(E1)], params={"options": "update,replace"}))
    assert missing(hub, E1)


# -- batch update (5.6.9, 6.16) --------------------------------------------------------------
def test_update_overwrites_and_appends(hub):
    post(hub, "create", [entity(E1, a=1, b=1), entity(E2, a=1)])
    no_content(
        post(hub, "update", [{"id": E1, "a": 2, "c": 3}, {"id": E2, "type": "Office", "a": 5}])
    )
    assert get(hub, E1, options="keyValues") == {
        "id": E1,
        "type": "Building",
        "a": 2,
        "b": 1,
        "c": 3,
    }
    assert get(hub, E2, options="keyValues") == {"id": E2, "type": ["Building", "Office"], "a": 5}


def test_update_no_overwrite(hub):
    post(hub, "create", [entity(E1, a=1)])
    no_content(post(hub, "update", [{"id": E1, "a": 2, "b": 2}], params={"options": "noOverwrite"}))
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "a": 1, "b": 2}


def test_update_missing_entity_and_invalid_items(hub):
    post(hub, "create", [entity(E1, a=1)])
    result = multi_status(
        post(hub, "update", [{"id": E1, "a": 2}, {"id": E2, "a": 2}, {"a": 3}, {"id": E1, "r": {"type": "Relationship", "object": 5}}])
    )  # fmt: skip
    assert result["success"] == [E1]
    kinds = error_kinds(result)
    assert (E2, "ResourceNotFound") in kinds
    assert (E1, "BadRequestData") in kinds
    assert len(kinds) == 3
    assert get(hub, E1)["a"]["value"] == 2 and "r" not in get(hub, E1)


def test_update_repeated_entity_applies_in_order(hub):
    post(hub, "create", [entity(E1, a=0)])
    no_content(post(hub, "update", [{"id": E1, "a": 1, "b": 1}, {"id": E1, "a": 2}]))
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "a": 2, "b": 1}


# -- batch merge (5.6.20, 6.31) --------------------------------------------------------------
def test_merge(hub):
    post(
        hub,
        "create",
        [
            entity(E1, t={"type": "Property", "value": 1, "unitCode": "CEL"}, gone="x"),
            entity(E2, address={"city": "Seoul", "zip": "1"}),
        ],
    )
    no_content(
        post(
            hub,
            "merge",
            [
                {"id": E1, "t": {"type": "Property", "value": 2}, "gone": NULL, "new": 1},
                {"id": E2, "address": {"type": "Property", "value": {"zip": NULL, "gu": "Jung"}}},
            ],
        )
    )
    assert get(hub, E1) == {
        "id": E1,
        "type": "Building",
        "t": {"type": "Property", "value": 2, "unitCode": "CEL"},
        "new": {"type": "Property", "value": 1},
    }
    assert get(hub, E2, options="keyValues")["address"] == {"city": "Seoul", "gu": "Jung"}


def test_merge_partial_failure_and_repeats(hub):
    post(hub, "create", [entity(E1, a=0)])
    result = multi_status(
        post(hub, "merge", [{"id": E1, "a": 1}, {"id": E2, "a": 1}, {"id": E1, "b": 2}])
    )
    assert result["success"] == [E1]
    assert error_kinds(result) == [(E2, "ResourceNotFound")]
    assert get(hub, E1, options="keyValues") == {"id": E1, "type": "Building", "a": 1, "b": 2}


# -- batch delete (5.6.10, 6.17) -------------------------------------------------------------
def test_delete(hub):
    post(hub, "create", [entity(E1), entity(E2), entity(E3)])
    no_content(post(hub, "delete", [E1, E2]))
    assert missing(hub, E1) and missing(hub, E2) and not missing(hub, E3)


def test_delete_missing_repeated_and_invalid_ids(hub):
    """Clause 5.5.11.4: a repeated id deletes once, then is not found."""
    post(hub, "create", [entity(E1), entity(E2)])
    result = multi_status(post(hub, "delete", [E1, E3, E1, "not a uri", 7]))
    assert result["success"] == [E1]
    kinds = error_kinds(result)
    assert (E3, "ResourceNotFound") in kinds and (E1, "ResourceNotFound") in kinds
    assert ("not a uri", "BadRequestData") in kinds
    assert len(kinds) == 4
    assert missing(hub, E1) and not missing(hub, E2)


def test_batch_operations_on_a_nonexistent_tenant(hub):
    headers = {"NGSILD-Tenant": "ghost"}
    for op, body in (("update", [{"id": E1, "a": 1}]), ("merge", [{"id": E1}]), ("delete", [E1])):
        response = post(hub, op, body, headers=headers)
        assert response.status_code == 404, (op, response.text)
        assert response.json()["type"] == ERR + "NonexistentTenant"
        assert response.headers["ngsild-tenant"] == "ghost"


def test_concurrent_batches_on_the_same_entities_all_succeed(hub):
    # On PostgreSQL two batches locking the same entities in another order deadlocked and
    # one answered 500; two upserts creating one entity: one failed on the unique key.
    import random
    import threading

    import httpx

    statuses: list[int] = []

    def client(seed: int) -> None:
        order = random.Random(seed)
        with httpx.Client(base_url=hub.api, timeout=60) as http:
            for round_ in range(8):
                ids = [f"urn:ngsi-ld:Gauge:{round_}-{i}" for i in range(30)]
                order.shuffle(ids)
                body = [{"id": i, "type": "Gauge", "level": {"type": "Property", "value": seed}}
                        for i in ids]  # fmt: skip
                statuses.append(http.post("/entityOperations/upsert", json=body).status_code)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(statuses)) in ([201, 204], [204]), statuses
    assert statuses.count(201) == 8  # each round's entities were created by one batch
    r = hub.http.get("/entities", params={"type": "Gauge", "count": "true", "limit": 1})
    assert r.headers["NGSILD-Results-Count"] == "240"
