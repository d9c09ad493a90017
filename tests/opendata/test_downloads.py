"""Downloads in every format, checked by reading them back; streamed in pages."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from opendata_city import GU, HOURS, start_city

URL = "/opendata/datasets/StationAir/resources/{rid}/download"


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def get(city, rid, **params):
    response = city.http.get(URL.format(rid=rid).replace("StationAir", params.pop("ds", "StationAir")),
                             params=params)  # fmt: skip
    assert response.status_code == 200, response.text
    return response


def test_csv_with_and_without_bom(city):
    r = get(city, "station-history", format="csv")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "station-history.csv" in r.headers["content-disposition"]
    assert not r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"))))
    assert rows[0] == ["TIME", "NAME", "GU", "PM10"]
    assert rows[1] == ["2026-01-01T00:00:00Z", "측정소1", "강남구", "10"]
    assert len(rows) == 1 + len(GU) * HOURS
    bom = get(city, "station-history", format="csv", bom="1").content
    assert bom.startswith(b"\xef\xbb\xbf") and bom[3:] == r.content


def test_json_and_geojson(city):
    rows = get(city, "station-latest", format="json").json()
    assert rows[0] == {"ID": "urn:ngsi-ld:Station:1", "NAME": "측정소1", "NAME_EN": "Station 1",
                       "GU": "강남구", "PM10": 19,
                       "location": {"type": "Point", "coordinates": [127.01, 37.5]}}  # fmt: skip
    collection = get(city, "station-latest", format="geojson").json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3
    feature = collection["features"][2]
    assert feature["geometry"] == {"type": "Point", "coordinates": [127.03, 37.5]}
    assert feature["properties"] == {"ID": "urn:ngsi-ld:Station:3", "NAME": "측정소3",
                                     "NAME_EN": "Station 3", "GU": "강남구", "PM10": 39}  # fmt: skip
    history = get(city, "station-history", format="json").json()
    assert [row["PM10"] for row in history[:HOURS]] == [10 + h for h in range(HOURS)]


def test_parquet(city):
    import pyarrow.parquet as pq

    r = get(city, "station-history", format="parquet")
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column_names == ["TIME", "NAME", "GU", "PM10"]
    assert str(table.schema.field("PM10").type) == "int64"
    assert table.column("PM10").to_pylist()[:3] == [10, 11, 12]
    assert table.num_rows == len(GU) * HOURS


def test_xlsx(city):
    from openpyxl import load_workbook

    r = get(city, "station-latest", format="xlsx")
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("ID", "NAME", "NAME_EN", "GU", "PM10", "location")
    assert rows[1][:5] == ("urn:ngsi-ld:Station:1", "측정소1", "Station 1", "강남구", 19)
    assert orjson.loads(rows[1][5]) == {"type": "Point", "coordinates": [127.01, 37.5]}


def test_files_as_uploaded_and_converted(city):
    from opendata_city import CCTV_CSV

    raw = city.http.get("/opendata/datasets/CctvFile/resources/cctv-file/download")
    assert raw.status_code == 200 and raw.content == CCTV_CSV
    assert raw.headers["content-type"].startswith("text/csv")
    converted = get(city, "cctv-file", ds="CctvFile", format="json").json()
    assert converted[1] == {"기관명": "종로구", "소계": 1002, "2016년": 630}


def test_errors(city):
    r = city.http.get(URL.format(rid="station-latest"), params={"format": "pdf"})
    assert r.status_code == 400 and "csv" in r.json()["detail"]
    assert city.http.get(URL.format(rid="nope")).status_code == 404
    r = city.http.get(URL.format(rid="station-latest"), params={"key": "bad"})
    assert r.status_code == 401


def test_large_history_streams_in_pages(city):
    """A 12,000-instance history arrives in several chunks, not one buffered body."""
    from opendata_city import CONTEXT

    instances = [{"type": "Property", "value": i, "observedAt": f"2026-02-{1 + i // 1440:02d}T"
                  f"{(i // 60) % 24:02d}:{i % 60:02d}:00Z"} for i in range(12000)]  # fmt: skip
    entity = {"id": "urn:ngsi-ld:Station:big", "type": "Station", "@context": CONTEXT}
    r = city.hub.http.post("/entities", json=entity, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    r = city.hub.http.post("/temporal/entities", headers={"Content-Type": "application/ld+json"},
                           json={"id": "urn:ngsi-ld:Station:big", "type": "Station",
                                 "pm10": instances, "@context": CONTEXT})  # fmt: skip
    assert r.status_code in (201, 204), r.text
    view = {"type": "Station", "context": CONTEXT, "mode": "history", "attrs": ["pm10"],
            "layout": "long", "start": "2026-02-01T00:00:00Z", "until": "2026-03-01T00:00:00Z"}
    data = {"name": "Big", "title": {"en": "big"}, "description": {"en": "big"},
            "resources": [{"id": "big", "kind": "query", "name": {"en": "big"}, "query": view}]}
    assert city.put_dataset(data).status_code == 200
    with city.http.stream("GET", "/opendata/datasets/Big/resources/big/download?format=csv") as r:
        chunks = list(r.iter_raw())
    assert len(chunks) >= 3
    lines = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert lines[0] == ["id", "attribute", "observedAt", "value", "unitCode"]
    assert lines[1] == ["urn:ngsi-ld:Station:big", "pm10", "2026-02-01T00:00:00Z", "0", ""]
    assert len(lines) == 12001 and lines[-1][3] == "11999"
    total = city.http.get("/sample/json/Big/1/1").json()["Big"]["list_total_count"]
    assert total == 12000
    # Offsets skip whole pages and entities by their instance counts; offset 0 needs none.
    for first, values in ((1, [0, 1]), (2001, [2000, 2001]), (11999, [11998, 11999])):
        body = city.http.get(f"/{city.reader}/json/Big/{first}/{first + 1}").json()["Big"]
        assert [row["value"] for row in body["row"]] == values


def test_csv_cells_hold_json_text_and_lowercase_booleans(city):
    """Objects and arrays become JSON text, booleans true/false (as in the JSON download)."""
    data = {"name": "Cells", "title": {"en": "cells"}, "description": {"en": "typed cells"},
            "resources": [{"id": "cells", "kind": "file", "name": {"en": "cells"}}]}  # fmt: skip
    assert city.put_dataset(data).status_code == 200
    rows = [{"n": 1.5, "ok": True, "where": {"type": "Point", "coordinates": [127.0, 37.5]},
             "tags": ["a", "b"], "name": "강남구"},
            {"n": 2, "ok": False, "where": None, "tags": [], "name": "중구"}]  # fmt: skip
    r = city.http.put("/opendata/admin/resources/cells/file?filename=cells.json",
                      content=orjson.dumps(rows), headers=city.auth())  # fmt: skip
    assert r.status_code == 200, r.text
    text = get(city, "cells", ds="Cells", format="csv").content.decode()
    assert list(csv.reader(io.StringIO(text))) == [
        ["n", "ok", "where", "tags", "name"],
        ["1.5", "true", '{"type":"Point","coordinates":[127.0,37.5]}', '["a","b"]', "강남구"],
        ["2", "false", "", "[]", "중구"],
    ]


def test_a_view_the_hub_cannot_read_is_a_bad_gateway(city):
    unreachable = {"type": "Station", "context": "http://127.0.0.1:1/no-context.jsonld"}
    data = {"name": "Unreachable", "title": {"en": "u"}, "description": {"en": "u"},
            "resources": [{"id": "unreachable", "kind": "query", "name": {"en": "u"},
                           "query": unreachable}]}  # fmt: skip
    assert city.put_dataset(data).status_code == 200
    r = city.http.get("/opendata/datasets/Unreachable/resources/unreachable/download")
    body = r.json()
    assert (r.status_code, body["status"], body["title"]) == (502, 502, "Bad Gateway")
    assert body["detail"].startswith("the hub refused the view's query: ")
