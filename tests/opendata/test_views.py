"""Resources read as tables: uploaded files that are missing, ragged or unreadable, through
the three APIs that read them (downloads, the Seoul OpenAPI, CKAN's datastore_search)."""

from __future__ import annotations

import pytest
from opendata_city import start_city

NO_DATA = "해당하는 데이터가 없습니다."


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def download(city, **params):
    return city.http.get("/opendata/datasets/Files/resources/ff/download", params=params)


def seoul(city):
    r = city.http.get(f"/{city.reader}/json/Files/1/5")
    assert r.status_code == 200, r.text
    return r.json()


def datastore(city):
    return city.http.get("/api/3/action/datastore_search", params={"resource_id": "ff"})


def test_a_file_never_uploaded_has_no_rows(city):
    city.file_dataset()
    detail = "resource ff has no uploaded file"
    for params in ({}, {"format": "csv"}, {"format": "json"}):
        r = download(city, **params)
        assert (r.status_code, r.json()["title"], r.json()["detail"]) == (404, "Not Found", detail)
    assert seoul(city) == {"RESULT": {"CODE": "INFO-200", "MESSAGE": NO_DATA}}
    r = datastore(city)
    assert r.status_code == 404
    assert r.json()["error"] == {"__type": "Not Found Error", "message": detail}


def test_ragged_csv_rows_are_fitted_to_the_header(city):
    city.file_dataset(b"a,b\r\n1,2,3\r\n4\r\n")
    rows = [{"a": 1, "b": 2}, {"a": 4, "b": ""}]
    assert download(city, format="json").json() == rows
    assert download(city).content == b"a,b\r\n1,2,3\r\n4\r\n"  # the file as uploaded
    assert download(city, format="csv").content == b"a,b\r\n1,2\r\n4,\r\n"
    body = seoul(city)["Files"]
    assert (body["list_total_count"], body["row"]) == (2, rows)
    r = datastore(city)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["records"] == [{"_id": 1, **rows[0]}, {"_id": 2, **rows[1]}]


@pytest.mark.parametrize(
    ("content", "filename", "detail"),
    [
        (b"{not json", "f.json", "f.json: cannot be read as JSON (JSONDecodeError: "),
        (b'{"a": 1}', "f.json", "f.json: a JSON file resource must be a list of objects"),
        (b"not a zip", "f.xlsx", "f.xlsx: cannot be read as XLSX (BadZipFile: "),
        (b"\xff\xfe\xfd", "f.csv", "f.csv: cannot be read as CSV (UnicodeDecodeError: "),
    ],
)
def test_an_unreadable_file_is_refused_in_each_apis_shape(city, content, filename, detail):
    city.file_dataset(content, filename)
    assert download(city).content == content  # the file as uploaded is still served
    r = download(city, format="csv")
    assert (r.status_code, r.json()["title"]) == (400, "Bad Request")
    assert r.json()["detail"].startswith(detail)
    assert seoul(city)["RESULT"]["CODE"] == "ERROR-500"
    r = datastore(city)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["__type"] == "Validation Error" and error["file"][0].startswith(detail)
