"""Payloads for clients of earlier NGSI-LD versions (clause 4.3.6.8, Prefer: ngsi-ld=X.Y),
over real HTTP on both backends."""

from __future__ import annotations

from smartseoul.hub.versions import preferred

E1 = "urn:ngsi-ld:Sensor:v1"
ENTITY = {
    "id": E1,
    "type": ["Sensor", "Device"],
    "scope": "/Seoul/Jung",
    "expiresAt": "2099-01-01T00:00:00Z",
    "temperature": [
        {"type": "Property", "value": 21.5, "unitCode": "CEL",
         "observedAt": "2026-12-01T00:00:00Z", "expiresAt": "2099-01-01T00:00:00Z"},
        {"type": "Property", "value": 22.0, "datasetId": "urn:ngsi-ld:Dataset:b"},
    ],
    "config": {"type": "JsonProperty", "json": {"mode": "fast"}},
    "category": {"type": "VocabProperty", "vocab": "Outdoor"},
    "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
    "route": {"type": "ListRelationship", "objectType": "Station",
              "objectList": [{"object": "urn:ngsi-ld:Station:a"}, {"object": "urn:ngsi-ld:Station:b"}]},
    "name": {"type": "LanguageProperty", "languageMap": {"ko": "센서", "en": "sensor"}},
    "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:p", "objectType": "Person"},
}  # fmt: skip


def fetch(hub, version: str | None):
    headers = {"Prefer": f"ngsi-ld={version}"} if version else {}
    response = hub.http.get(f"/entities/{E1}", headers=headers)
    # 203 Non-Authoritative Information: a body amended for an earlier version (6.5.3.1).
    earlier = version is not None and tuple(map(int, version.split("."))) < (1, 9)
    assert response.status_code == (203 if earlier else 200), response.text
    return response


def test_prefer_versions(hub):
    assert hub.http.post("/entities", json=ENTITY).status_code == 201
    plain = fetch(hub, None)
    assert "Preference-Applied" not in plain.headers
    current = fetch(hub, "1.9")
    assert current.headers["Preference-Applied"] == "ngsi-ld=1.9"
    assert current.json() == plain.json()
    assert fetch(hub, "2.3").headers["Preference-Applied"] == "ngsi-ld=1.9"

    v18 = fetch(hub, "1.8")
    assert v18.headers["Preference-Applied"] == "ngsi-ld=1.8"
    body = v18.json()
    assert "expiresAt" not in body and "expiresAt" not in body["temperature"][0]
    assert body["config"]["type"] == "JsonProperty" and body["route"]["objectType"] == "Station"

    body = fetch(hub, "1.6").json()
    assert body["config"] == {"type": "Property", "value": {"mode": "fast"}}
    assert body["category"] == {"type": "Property", "value": "Outdoor"}
    assert body["readings"] == {"type": "Property", "value": [1, 2, 3]}
    assert body["route"] == {
        "type": "Relationship", "object": ["urn:ngsi-ld:Station:a", "urn:ngsi-ld:Station:b"]}  # fmt: skip
    assert body["owner"] == {"type": "Relationship", "object": "urn:ngsi-ld:Person:p"}
    assert body["name"]["type"] == "LanguageProperty" and body["scope"] == "/Seoul/Jung"
    assert body["temperature"][0]["unitCode"] == "CEL"

    body = fetch(hub, "1.3").json()
    assert body["name"] == {"type": "Property", "value": {"ko": "센서", "en": "sensor"}}
    assert "scope" not in body and body["type"] == ["Sensor", "Device"]
    assert len(body["temperature"]) == 2

    v10 = fetch(hub, "1.0")
    assert v10.headers["Preference-Applied"] == "ngsi-ld=1.0"
    body = v10.json()
    assert body["type"] == "Sensor"  # one type only (table 4.3.6.8-1, note 1)
    assert body["temperature"] == {"type": "Property", "value": 21.5}  # the default instance

    # Queries too; keyValues follows the reformatted kinds.
    response = hub.http.get(
        "/entities", params={"type": "Sensor", "options": "keyValues"},
        headers={"Prefer": "ngsi-ld=1.6"},
    )  # fmt: skip
    assert response.status_code == 203  # clause 6.4.3.2
    assert response.headers["Preference-Applied"] == "ngsi-ld=1.6"
    (sensor,) = response.json()
    assert sensor["config"] == {"mode": "fast"} and sensor["readings"] == [1, 2, 3]
    assert sensor["category"] == "Outdoor"
    # Other preferences alone leave the payload as it is.
    other = hub.http.get(f"/entities/{E1}", headers={"Prefer": "return=minimal"})
    assert "Preference-Applied" not in other.headers and other.json() == plain.json()


def test_preferred_parsing():
    assert preferred(None) is None and preferred("return=minimal") is None
    assert preferred("ngsi-ld=1.6") == (1, 6)
    assert preferred("body=json, ngsi-ld=1.4") == (1, 4)
    assert preferred('ngsi-ld="1.8"') == (1, 8)
    assert preferred("ngsi-ld=3.0") == (1, 9)
    assert preferred("ngsi-ld=0.9") == (1, 0)
    assert preferred("ngsi-ld=abc") is None


def test_prefer_versions_on_the_temporal_api(hub):
    assert hub.http.post("/entities", json=ENTITY).status_code == 201
    patch = {"config": {"type": "JsonProperty", "json": {"mode": "slow"}}}
    assert hub.http.patch(f"/entities/{E1}/attrs", json=patch).status_code == 204
    path = f"/temporal/entities/{E1}"
    plain = hub.http.get(path)
    assert plain.status_code == 200, plain.text
    assert "Preference-Applied" not in plain.headers
    assert [i["type"] for i in plain.json()["config"]] == ["JsonProperty", "JsonProperty"]

    old = hub.http.get(path, headers={"Prefer": "ngsi-ld=1.6"})
    assert old.status_code == 203, old.text  # clause 6.19.3.1
    assert old.headers["Preference-Applied"] == "ngsi-ld=1.6"
    body = old.json()
    assert [(i["type"], i["value"]) for i in body["config"]] == [
        ("Property", {"mode": "fast"}), ("Property", {"mode": "slow"})]  # fmt: skip
    assert body["route"][0]["type"] == "Relationship" and "objectType" not in body["owner"][0]
    assert body["scope"][0]["value"] == "/Seoul/Jung"

    body = hub.http.get(path, headers={"Prefer": "ngsi-ld=1.0"}).json()
    assert body["type"] == "Sensor" and "scope" not in body
    # The default instance's history only, without the members 1.0 did not have.
    assert [i["value"] for i in body["temperature"]] == [21.5]
    assert "unitCode" not in body["temperature"][0] and "observedAt" not in body["temperature"][0]
    query = hub.http.get(
        "/temporal/entities",
        params={"type": "Sensor", "timerel": "after", "timeAt": "2000-01-01T00:00:00Z",
                "timeproperty": "modifiedAt"},
        headers={"Prefer": "ngsi-ld=1.6"},
    )
    assert query.status_code == 203, query.text  # clause 6.18.3.2
    assert query.headers["Preference-Applied"] == "ngsi-ld=1.6"
    assert query.json()[0]["config"][0]["type"] == "Property"


def test_discovery_reports_attribute_types_a_client_knows(hub):
    """/types/{type} and /attributes/{attr} under Prefer: older clients see the
    attribute types of their version (table 4.3.6.8-1); every discovery answer says
    which version it follows."""
    assert hub.http.post("/entities", json=ENTITY).status_code == 201

    def kinds(path, version):
        headers = {"Prefer": f"ngsi-ld={version}"} if version else {}
        response = hub.http.get(path, headers=headers)
        assert response.status_code == 200, response.text
        if version:
            assert response.headers["Preference-Applied"] == f"ngsi-ld={version}"
        else:
            assert "Preference-Applied" not in response.headers
        body = response.json()
        if path.startswith("/attributes/"):
            return body["attributeTypes"]
        return {a["attributeName"]: a["attributeTypes"] for a in body["attributeDetails"]}

    current = kinds("/types/Sensor", None)
    assert current["route"] == ["ListRelationship"] and current["config"] == ["JsonProperty"]
    assert kinds("/types/Sensor", "1.9") == current
    v16 = kinds("/types/Sensor", "1.6")
    assert v16["route"] == ["Relationship"] and v16["config"] == ["Property"]
    assert v16["category"] == ["Property"] and v16["name"] == ["LanguageProperty"]
    assert kinds("/types/Sensor", "1.3")["name"] == ["Property"]
    assert kinds("/attributes/readings", None) == ["ListProperty"]
    assert kinds("/attributes/readings", "1.7") == ["Property"]
    for path in ("/types", "/types?details=true", "/attributes", "/attributes?details=true"):
        response = hub.http.get(path, headers={"Prefer": "ngsi-ld=1.6"})
        assert response.status_code == 200, response.text
        assert response.headers["Preference-Applied"] == "ngsi-ld=1.6"
