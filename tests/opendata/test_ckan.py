"""CKAN's Action API subset: envelopes, every action, and CKAN's error objects."""

from __future__ import annotations

import time

import orjson
import pytest
from opendata_city import CCTV_CSV, GU, HOURS, start_city


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def action(city, name, method="GET", **params):
    if method == "POST":
        return city.http.post(f"/api/3/action/{name}", json=params)
    return city.http.get(f"/api/3/action/{name}", params=params)


def ok(response):
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["help"].endswith("help_show?name=" + response.url.path.rsplit("/", 1)[1])
    return body["result"]


def failed(response, status, kind):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["__type"] == kind
    return body["error"]


def test_package_list_and_organizations(city):
    assert ok(action(city, "package_list")) == ["CctvFile", "NoStations", "StationAir"]
    assert ok(action(city, "package_list", limit=1, offset=1)) == ["NoStations"]
    assert ok(action(city, "organization_list")) == ["safety-office", "seoul", "test-city"]
    orgs = ok(action(city, "organization_list", all_fields="true"))
    assert {o["name"]: o["package_count"] for o in orgs} == {"safety-office": 1, "seoul": 1, "test-city": 1}


def test_package_show(city):
    pkg = ok(action(city, "package_show", id="StationAir"))
    assert pkg["name"] == "StationAir" and pkg["title"] == "측정소 미세먼지"
    assert pkg["license_id"] == "KOGL-1" and pkg["license_title"].startswith("공공누리 제1유형")
    assert pkg["organization"]["name"] == "test-city"
    assert [t["name"] for t in pkg["tags"]] == ["미세먼지", "PM10"]
    extras = {e["key"]: e["value"] for e in pkg["extras"]}
    assert extras["title_en"] == "Station particulate matter" and extras["frequency"] == "hourly"
    assert [r["id"] for r in pkg["resources"]] == ["station-history", "station-latest"]
    assert pkg["resources"][0]["url"].endswith(
        "/opendata/datasets/StationAir/resources/station-history/download?format=csv"
    )
    assert ok(action(city, "package_show", "POST", id="CctvFile"))["num_resources"] == 1
    failed(action(city, "package_show", id="nope"), 404, "Not Found Error")
    error = failed(action(city, "package_show"), 409, "Validation Error")
    assert error["id"] == ["Missing value"]


def test_package_search(city):
    found = ok(action(city, "package_search", q="미세먼지"))
    assert found["count"] == 1 and found["results"][0]["name"] == "StationAir"
    found = ok(action(city, "package_search", q="cctv gu"))
    assert [p["name"] for p in found["results"]] == ["CctvFile"]
    found = ok(action(city, "package_search", fq="organization:test-city"))
    assert [p["name"] for p in found["results"]] == ["StationAir"]
    found = ok(action(city, "package_search", fq="license_id:CC-BY-4.0 tags:CCTV"))
    assert [p["name"] for p in found["results"]] == ["CctvFile"]
    found = ok(action(city, "package_search", rows=1, start=1, sort="name desc"))
    assert found["count"] == 3 and [p["name"] for p in found["results"]] == ["NoStations"]
    found = ok(action(city, "package_search", "POST", q="", rows=10, sort="name asc"))
    assert [p["name"] for p in found["results"]] == ["CctvFile", "NoStations", "StationAir"]
    failed(action(city, "package_search", sort="size asc"), 409, "Validation Error")
    failed(action(city, "package_search", rows="many"), 409, "Validation Error")
    failed(action(city, "package_search", fq="color:red"), 409, "Validation Error")


def test_resource_show(city):
    res = ok(action(city, "resource_show", id="cctv-file"))
    assert res["package_id"] == "CctvFile" and res["format"] == "CSV"
    assert res["size"] == len(CCTV_CSV)
    assert res["url"].endswith("/opendata/datasets/CctvFile/resources/cctv-file/download")
    failed(action(city, "resource_show", id="nope"), 404, "Not Found Error")
    # A new file of another kind: the format follows it (it stayed "CSV").
    r = city.http.put("/opendata/admin/resources/cctv-file/file", params={"filename": "cctv.json"},
                      content=b'[{"gu": "Jongno-gu", "cameras": 5}]', headers=city.auth())  # fmt: skip
    assert r.status_code == 200, r.text
    res = ok(action(city, "resource_show", id="cctv-file"))
    assert (res["format"], res["size"]) == ("JSON", 35)
    rows = ok(action(city, "datastore_search", resource_id="cctv-file"))["records"]
    assert rows == [{"_id": 1, "gu": "Jongno-gu", "cameras": 5}]


def test_datastore_search(city):
    result = ok(action(city, "datastore_search", resource_id="station-history", limit=2))
    assert result["total"] == len(GU) * HOURS and result["limit"] == 2 and result["offset"] == 0
    assert [f["id"] for f in result["fields"]] == ["_id", "TIME", "NAME", "GU", "PM10"]
    assert {f["id"]: f["type"] for f in result["fields"]}["PM10"] == "int"
    assert [r["PM10"] for r in result["records"]] == [10, 11]
    assert [r["_id"] for r in result["records"]] == [1, 2]
    page = ok(action(city, "datastore_search", resource_id="station-history", limit=2, offset=10))
    assert [(r["_id"], r["PM10"]) for r in page["records"]] == [(11, 20), (12, 21)]
    filtered = ok(action(city, "datastore_search", resource_id="station-history",
                         filters=orjson.dumps({"GU": "종로구"}).decode(), fields="NAME,PM10"))  # fmt: skip
    assert filtered["total"] == HOURS
    assert filtered["records"][0] == {"_id": 1, "NAME": "측정소2", "PM10": 20}
    posted = ok(action(city, "datastore_search", "POST", resource_id="station-latest",
                       filters={"GU": "강남구"}, sort="PM10 desc"))  # fmt: skip
    assert [r["ID"] for r in posted["records"]] == ["urn:ngsi-ld:Station:3", "urn:ngsi-ld:Station:1"]
    assert posted["records"][0]["location"] == {"type": "Point", "coordinates": [127.03, 37.5]}
    # A list is any of its values (CKAN); it was read as the list's JSON text: no row.
    either = ok(action(city, "datastore_search", "POST", resource_id="station-latest",
                       filters={"GU": ["종로구", "강남구"]}, fields="ID"))  # fmt: skip
    assert sorted(r["ID"][-1] for r in either["records"]) == ["1", "2", "3"]
    counts = ok(action(city, "datastore_search", "POST", resource_id="cctv-file",
                       filters={"소계": [2780, 671], "기관명": ["강남구", "중구", "서초구"]}))  # fmt: skip
    assert [r["기관명"] for r in counts["records"]] == ["강남구", "중구"]
    none = ok(action(city, "datastore_search", "POST", resource_id="station-latest",
                     filters={"GU": []}))  # fmt: skip
    assert none["total"] == 0
    text = ok(action(city, "datastore_search", resource_id="cctv-file", q="종로"))
    assert text["total"] == 1 and text["records"][0]["소계"] == 1002
    failed(action(city, "datastore_search", resource_id="nope"), 404, "Not Found Error")
    failed(action(city, "datastore_search"), 409, "Validation Error")
    failed(action(city, "datastore_search", resource_id="station-latest", sort="COLOR asc"),
           409, "Validation Error")  # fmt: skip
    failed(action(city, "datastore_search", resource_id="station-latest", filters="{bad"),
           409, "Validation Error")  # fmt: skip
    failed(action(city, "datastore_search", resource_id="station-latest", filters='{"X": 1}'),
           409, "Validation Error")  # fmt: skip
    failed(action(city, "datastore_search", resource_id="station-latest", fields="X"),
           409, "Validation Error")  # fmt: skip
    failed(action(city, "datastore_search", resource_id="station-latest", limit=-1),
           409, "Validation Error")  # fmt: skip


def test_unknown_action_and_bad_key(city):
    error = failed(action(city, "package_create"), 400, "Bad Request")
    assert "package_list" in error["message"]
    r = city.http.get("/api/3/action/package_list", headers={"Authorization": "Bearer nope"})
    failed(r, 401, "Authorization Error")


def test_nul_characters_find_nothing(city):
    """A name or id holding U+0000 (which PostgreSQL text cannot hold) is not found, in
    each API's own error shape, instead of a database error."""
    failed(action(city, "package_show", id="air\x00"), 404, "Not Found Error")
    failed(action(city, "resource_show", id="cctv-file\x00"), 404, "Not Found Error")
    r = city.http.get("/opendata/datasets/air%00/resources/x/download")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = city.http.get(f"/{city.reader}/json/Station%00Air/1/2")
    assert r.status_code == 200 and r.json()["RESULT"]["CODE"] == "ERROR-310"
    r = city.http.get("/opendata/admin/usage", params={"dataset": "a\x00"}, headers=city.auth())
    assert r.status_code == 200 and r.json() == []


def test_a_bad_post_body_is_a_bad_request(city):
    for body in (b"{not json", b"[1]"):
        r = city.http.post("/api/3/action/package_list", content=body)
        error = failed(r, 400, "Bad Request")
        assert error["message"] in ("the body is not valid JSON", "the body must be a JSON object")


def test_datastore_fields_must_be_names(city):
    for fields in ([1], 5, {"기관명": 1}, ["기관명", None]):
        r = action(city, "datastore_search", "POST", resource_id="cctv-file", fields=fields)
        error = failed(r, 409, "Validation Error")
        assert error["fields"] == ["Must be a comma-separated string or a list of strings"]
    r = action(city, "datastore_search", "POST", resource_id="cctv-file", fields=["소계", "기관명"])
    assert ok(r)["records"][0] == {"_id": 1, "소계": 2780, "기관명": "강남구"}


def test_a_long_fq_costs_linear_time(city):
    """A run of name characters without ":" used to be retried from each of its
    characters: 100,000 of them took about 50 s; now milliseconds."""
    started = time.monotonic()
    r = action(city, "package_search", "POST", fq="a" * 100_000)
    assert time.monotonic() - started < 5
    assert failed(r, 409, "Validation Error")["fq"][0].startswith("fq: expected field:value terms")
    r = action(city, "package_search", "POST", fq="x " * 50_000 + "organization:test-city")
    assert [d["name"] for d in ok(r)["results"]] == ["StationAir"]
