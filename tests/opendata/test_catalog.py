"""The catalog model: validation with the offending field named, search and sort (pure)."""

from __future__ import annotations

import pytest
from opendata_city import FILE_DATASET, air_dataset, start_city

from smartseoul.opendata.catalog import CatalogError, parse_dataset, search


def test_parse_fills_resource_ids_and_order():
    dataset = parse_dataset({"name": "x-1", "title": {"en": "X"}, "description": {"ko": "설명"},
                             "resources": [{"kind": "file", "name": {"en": "a"}},
                                           {"kind": "file", "name": {"en": "b"}}]})  # fmt: skip
    assert [(r.id, r.position, r.dataset) for r in dataset.resources] == [
        ("x-1-1", 0, "x-1"), ("x-1-2", 1, "x-1")
    ]
    assert dataset.title.pick("ko") == "X" and dataset.description.pick("en") == "설명"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "a b"}, "name", "letters"),
        ({"license_id": "MIT"}, "license_id", "KOGL-1"),
        ({"frequency": "sometimes"}, "frequency", "daily"),
        ({"title": {}}, "title", "Korean"),
        ({"resources": [{"kind": "query", "name": {"en": "v"}}]}, "resources.0", "query"),
        ({"resources": [{"kind": "file", "name": {"en": "v"}, "color": 1}]}, "resources.0.color", "Extra"),
    ],
)
def test_validation_names_the_field(change, field, words):
    data = {"name": "ok", "title": {"en": "t"}, "description": {"en": "d"}, **change}
    with pytest.raises(CatalogError) as err:
        parse_dataset(data)
    assert err.value.field == field and words in str(err.value)


def test_duplicate_resource_ids_refused():
    data = {"name": "ok", "title": {"en": "t"}, "description": {"en": "d"},
            "resources": [{"id": "rr", "kind": "file", "name": {"en": "1"}},
                          {"id": "rr", "kind": "file", "name": {"en": "2"}}]}  # fmt: skip
    with pytest.raises(CatalogError, match="unique"):
        parse_dataset(data)


def test_search_and_sort():
    datasets = [parse_dataset(air_dataset()), parse_dataset(dict(FILE_DATASET))]
    assert [d.name for d in search(datasets, q="pm10")] == ["StationAir"]
    assert [d.name for d in search(datasets, q="CCTV gu")] == ["CctvFile"]
    assert [d.name for d in search(datasets, fq='res_format:CSV')] == []
    assert [d.name for d in search(datasets, fq="tags:미세먼지")] == ["StationAir"]
    assert [d.name for d in search(datasets, sort="name desc")] == ["StationAir", "CctvFile"]
    assert [d.name for d in search(datasets, q="*:*")] == ["CctvFile", "StationAir"]
    with pytest.raises(CatalogError, match="unknown field"):
        search(datasets, fq="size:1")


@pytest.fixture
def city(hub):
    yield from start_city(hub)


@pytest.mark.parametrize(
    ("window", "detail"),
    [
        ({"period": "bogus"}, "period: 'bogus' is not an ISO 8601 duration"),
        ({"period": "P99999Y"}, "period: 'P99999Y' reaches beyond the calendar"),
        ({"until": "bogus"}, "until must be an ISO 8601 DateTime, got 'bogus'"),
        ({"start": "2026-13-01T00:00:00Z"}, "start is not a valid DateTime"),
    ],
)
def test_a_history_view_period_is_checked_when_published(city, window, detail):
    """A period no request could read is refused at PUT, not failed on every request."""
    view = {"type": "Station", "mode": "history", "attrs": ["pm10"], **window}
    data = {"name": "BadWindow", "title": {"en": "t"}, "description": {"en": "d"},
            "resources": [{"id": "bad-window", "kind": "query", "name": {"en": "v"},
                           "query": view}]}  # fmt: skip
    r = city.put_dataset(data)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("resources.0.query: Value error, " + detail)
    r = city.http.get("/opendata/datasets/BadWindow/resources/bad-window/download")
    assert r.status_code == 404


def test_nul_characters_in_stored_names_are_refused(city):
    """Names kept in columns of their own (PostgreSQL text cannot hold U+0000)."""
    data = {**FILE_DATASET, "organization": "safety\x00office"}
    r = city.put_dataset(data)
    assert (r.status_code, r.json()["detail"]) == (
        400, "organization: Value error, may not hold a NUL character (U+0000)"
    )  # fmt: skip
    r = city.http.put("/opendata/admin/resources/cctv-file/file", params={"filename": "a\x00.csv"},
                      content=b"a\n1\n", headers=city.auth())  # fmt: skip
    assert (r.status_code, r.json()["detail"]) == (
        400, "filename: may not hold a NUL character (U+0000)"
    )  # fmt: skip
    r = city.http.get("/opendata/datasets/CctvFile/resources/cctv-file/download")
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''cctv.csv"
    r = city.http.get("/api/3/action/organization_list")
    assert r.json()["result"] == ["safety-office", "seoul", "test-city"]
