"""Generated requests against the Open Data Plaza's three APIs, on both backends.

Hypothesis draws parameters for the CKAN Action API (GET query and POST body), paths for
the Seoul OpenAPI and resource downloads: known names, numbers, JSON fragments and arbitrary
Unicode text (NUL included). Whatever is asked, no answer is a 5xx, and every answer has its
API's own shape: CKAN's envelope with ``success`` and an ``error.__type``, the Seoul
OpenAPI's ``RESULT`` code in JSON or XML, a download's problem body. Derandomized, so a run
is repeatable; about 540 requests per backend.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opendata_city import start_city

from conftest import fuzz_settings

SETTINGS = fuzz_settings()
NAMES = ["StationAir", "CctvFile", "NoStations", "station-history", "station-latest", "cctv-file"]
COLUMNS = ["TIME", "NAME", "GU", "PM10", "ID", "기관명", "소계", "2016년"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
NONEMPTY = TEXT.filter(bool)
NUMBER = st.integers(-(10**13), 10**13).map(str)
FRAGMENT = st.sampled_from([
    "{}", "[]", "null", '"', '{"GU": "강남구"}', '{"PM10": [10, 11]}', '{"GU": {"a": 1}}',
    "PM10 desc", "name asc", "TIME desc, PM10", "GU:강남구", "organization:test-city",
    "PM10,GU", "nope desc", "true", "1.5", "-1",
])  # fmt: skip
VALUE = st.one_of(st.sampled_from(NAMES + COLUMNS), NUMBER, FRAGMENT, TEXT)
CKAN_PARAMS = [
    "id", "q", "fq", "sort", "rows", "start", "limit", "offset", "resource_id", "filters",
    "fields", "all_fields", "include_total", "distinct", "plain",
]  # fmt: skip
ACTIONS = [
    "package_list", "package_search", "package_show", "resource_show", "organization_list",
    "datastore_search",
]  # fmt: skip
JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | VALUE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(VALUE, inner, max_size=3),
    max_leaves=6,
)
SEOUL_CODE = re.compile(r"(INFO|ERROR)-\d{3}")
RESOURCES = [("StationAir", "station-history"), ("StationAir", "station-latest"),
             ("CctvFile", "cctv-file"), ("NoStations", "nothing")]  # fmt: skip


def mostly(valid: list[Any], other: st.SearchStrategy[Any] = NONEMPTY) -> Any:
    """A valid value four times in five, else ``other``: deep paths get most requests."""
    return st.one_of(*[st.sampled_from(valid)] * 4, other)


@pytest.fixture
def city(hub):
    yield from start_city(hub)


def segment(text: str) -> str:
    return quote(text, safe="")


def rerouted(*parts: str) -> bool:
    """Whether a path segment leaves its route: a "/" inside, or a dot segment that the
    client resolves away (RFC 3986, 5.2.4)."""
    return any("/" in p or p in (".", "..") for p in parts)


def test_ckan_actions_answer_every_request_in_ckan_shape(city):
    def probe(action: str, post: bool, query: dict[str, str], body: dict[str, Any]) -> None:
        path = f"/api/3/action/{segment(action)}"
        response = city.http.post(path, json=body) if post else city.http.get(path, params=query)
        assert response.status_code < 500, response.text
        if rerouted(action):
            return  # another route's path, or none
        answer = response.json()
        assert answer["success"] is (response.status_code == 200), answer
        if not answer["success"]:
            assert isinstance(answer["error"]["__type"], str) and answer["error"]["__type"]

    member = {"datastore_search": "resource_id"}
    targets = mostly([rid for _, rid in RESOURCES] + ["StationAir", "CctvFile"], VALUE)

    def examples(action: str) -> Any:
        key = member.get(action, "id")

        @SETTINGS
        @given(
            post=st.booleans(),
            query=st.fixed_dictionaries(
                {}, optional={**dict.fromkeys(CKAN_PARAMS, VALUE), key: targets}
            ),
            body=st.fixed_dictionaries(
                {}, optional={**dict.fromkeys(CKAN_PARAMS, JSON_VALUE), key: targets | JSON_VALUE}
            ),
        )
        def one(post: bool, query: dict[str, str], body: dict[str, Any]) -> None:
            probe(action, post, query, body)

        return one

    for action in ACTIONS:  # each action gets its own share of the examples
        examples(action)()

    @SETTINGS
    @given(action=NONEMPTY, post=st.booleans())
    def unknown(action: str, post: bool) -> None:
        probe(action, post, {}, {})

    unknown()


def test_seoul_api_answers_every_path_with_a_result_code(city):
    key = mostly([city.reader, "sample"])
    fmt = mostly(["json", "xml", "JSON", "csv"])
    index = mostly(["0", "1", "2", "5", "6", "1000", "1001"], NUMBER | NONEMPTY)

    @SETTINGS
    @given(
        key=key,
        fmt=fmt,
        service=mostly(["StationAir", "CctvFile", "NoStations"]),
        start=index,
        end=index,
        filters=st.lists(
            mostly(["강남구", "종로구", "2026-01-01", "20260101", "1"], VALUE.filter(bool)),
            max_size=3,
        ),
    )
    def probe(key: str, fmt: str, service: str, start: str, end: str, filters: list[str]) -> None:
        parts = [key, fmt, service, start, end, *filters]
        response = city.http.get("/" + "/".join(segment(p) for p in parts))
        assert response.status_code < 500, response.text
        if rerouted(key, fmt, service) or not response.content:
            return  # the path is another route's, or none
        if response.headers["content-type"].startswith("application/json"):
            text = response.text
            if response.status_code == 404 and '"title"' in text:
                return  # not a Seoul path at all: the platform's own 404
            assert SEOUL_CODE.search(text), text
        elif "xml" in response.headers["content-type"]:
            root = ET.fromstring(response.content)
            codes = [e.text or "" for e in root.iter("CODE")]
            assert codes and SEOUL_CODE.fullmatch(codes[0]), response.text

    probe()


def test_downloads_answer_every_request_with_data_or_a_problem(city):
    @SETTINGS
    @given(
        pair=mostly(RESOURCES, st.tuples(NONEMPTY, mostly(NAMES))),
        query=st.dictionaries(
            st.sampled_from(["format", "bom", "limit"]),
            st.sampled_from(["csv", "json", "geojson", "xlsx", "parquet", "CSV", "1"]) | TEXT,
            max_size=2,
        ),
    )
    def probe(pair: tuple[str, str], query: dict[str, str]) -> None:
        name, rid = pair
        path = f"/opendata/datasets/{segment(name)}/resources/{segment(rid)}/download"
        response = city.http.get(path, params=query)
        assert response.status_code < 500, response.text
        if response.status_code >= 400 and response.headers["content-type"].startswith(
            "application/problem+json"
        ):
            problem = response.json()
            assert problem["status"] == response.status_code and problem["detail"], problem

    probe()
