"""GET /info/sourceIdentity (clauses 5.15.1, 5.2.40, 6.33) over real HTTP on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from conftest import problem
from smartseoul.hub.api.info import iso_duration

LD = "application/ld+json"


def test_source_identity(hub):
    first = hub.http.get("/info/sourceIdentity")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["type"] == "ContextSourceIdentity"
    assert re.fullmatch(r"urn:ngsi-ld:ContextSource:[0-9a-f-]{36}", body["id"])
    assert re.fullmatch(r"smartseoul-[0-9a-f]{16}", body["contextSourceAlias"])
    assert re.fullmatch(r"P(\d+D)?T(\d+H)?(\d+M)?[\d.]+S", body["contextSourceUptime"])
    seen = datetime.fromisoformat(body["contextSourceTimeAt"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - seen).total_seconds()) < 60
    assert body["contextSourceExtras"]["store"] == (
        "sqlite" if hub.backend == "sqlite" else "postgresql"
    )
    assert "Link" in first.headers  # application/json: the @context goes in a Link header
    # The same broker answers with the same id; another tenant has another alias.
    again = hub.http.get("/info/sourceIdentity").json()
    assert again["id"] == body["id"] and again["contextSourceAlias"] == body["contextSourceAlias"]
    created = hub.http.post(
        "/entities",
        json={"id": "urn:ngsi-ld:Thing:1", "type": "Thing"},
        headers={"NGSILD-Tenant": "gangnam"},
    )
    assert created.status_code == 201, created.text
    tenant = hub.http.get("/info/sourceIdentity", headers={"NGSILD-Tenant": "gangnam"})
    assert tenant.status_code == 200 and tenant.headers["NGSILD-Tenant"] == "gangnam"
    assert tenant.json()["id"] == body["id"]
    assert tenant.json()["contextSourceAlias"] != body["contextSourceAlias"]
    ld = hub.http.get("/info/sourceIdentity", headers={"Accept": LD}).json()
    assert "@context" in ld and ld["id"] == body["id"]
    problem(
        hub.http.get("/info/sourceIdentity", headers={"NGSILD-Tenant": "nowhere"}),
        404,
        "NonexistentTenant",
    )


def test_iso_duration():
    assert iso_duration(0) == "PT0S"
    assert iso_duration(3723.5) == "PT1H2M3.5S"
    assert iso_duration(2 * 86400 + 60) == "P2DT1M0S"
