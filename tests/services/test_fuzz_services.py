"""Generated requests against the city services' routes (``/safety``, ``/cyber``, ``/flood``).

Each POST body starts from a valid one and Hypothesis replaces, drops or adds members with
numbers (huge, negative, fractional), text (NUL included), arrays, objects and nulls; the
GET routes get generated query parameters. Whatever is asked, no answer is a 5xx and every
error is a ProblemDetails. Bounds keep generated requests small: a body may not ask for a
billion permutations or cameras. Derandomized, SQLite only (the routes' own checks are what
is tested; both backends run their real work in the other service tests).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import fuzz_settings

SETTINGS = fuzz_settings(40)
TEXT = st.text(st.characters(codec="utf-8"), max_size=8)
NUMBER = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 0.5, 19, 99, 1e6, 10**9]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | NUMBER | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)
DEMAND = [
    {"id": "a", "lon": 126.9780, "lat": 37.5665, "weight": 2},
    {"id": "c", "lon": 127.0276, "lat": 37.4979, "weight": 4},
]
CANDIDATES = [{"id": "hall", "lon": 126.9785, "lat": 37.5666}]
VALID = {
    "/safety/site": {"demand": DEMAND, "candidates": CANDIDATES, "radius": 150, "facilities": 1},
    "/safety/curve": {"demand": DEMAND, "candidates": CANDIDATES, "radius": 150,
                      "max_facilities": 2},
    "/safety/allocate": {"cameras": 10, "crimes": {"a": 60, "b": 40}, "existing": {"a": 1}},
    "/safety/hotspots": {"areas": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"gu{i}{j}"}, "geometry": {
            "type": "Polygon", "coordinates": [[[127 + i / 100, 37.5 + j / 100],
             [127.01 + i / 100, 37.5 + j / 100], [127.01 + i / 100, 37.51 + j / 100],
             [127 + i / 100, 37.51 + j / 100], [127 + i / 100, 37.5 + j / 100]]]}}
        for i in range(3) for j in range(3)]},
        "counts": {f"gu{i}{j}": 1 + i * 3 + j for i in range(3) for j in range(3)},
        "permutations": 19, "seed": 1},
    "/flood/notify": {"data": []},
}  # fmt: skip
MEMBERS = {
    "/safety/site": ["demand", "candidates", "existing", "radius", "facilities", "model",
                     "method", "geojson", "name"],
    "/safety/curve": ["demand", "candidates", "existing", "radius", "facilities",
                      "max_facilities", "method"],
    "/safety/allocate": ["cameras", "crimes", "existing"],
    "/safety/hotspots": ["counts", "population", "areas", "statistic", "permutations", "fdr",
                         "seed"],
    "/flood/notify": ["data", "id", "type", "subscriptionId"],
}  # fmt: skip
GETS = {
    "/cyber/events": ["q", "start", "end", "limit", "offset", "source.ip", "host.hostname"],
    "/cyber/alerts": ["limit", "status"],
    "/cyber/incidents": ["status", "limit"],
    "/cyber/risk": ["limit"],
    "/flood/forecasts": ["gauge", "limit"],
    "/flood/warnings": ["level", "limit"],
}
PARAM = st.one_of(
    TEXT, NUMBER.map(str), st.sampled_from(["2026-12-01T00:00:00Z", "yesterday", "10", "-1"])
)


@pytest.fixture
def root(tmp_path):
    from conftest import free_port, make_store, running
    from smartseoul.app import create_app
    from smartseoul.config import Settings

    port = free_port()
    app = create_app(Settings(data_dir=tmp_path, port=port), store=make_store("sqlite", tmp_path))
    with running(app, port) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield client


def check(response: httpx.Response) -> None:
    """No 5xx but /flood/notify's 503 (no flood service runs in this process), and every
    error a ProblemDetails."""
    unavailable = response.status_code == 503 and response.url.path == "/flood/notify"
    assert response.status_code < 500 or unavailable, response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == response.status_code and body["detail"], body


@pytest.mark.parametrize("path", sorted(MEMBERS))
def test_service_bodies(root, path):
    @SETTINGS
    @given(
        changes=st.dictionaries(st.sampled_from(MEMBERS[path]), JSON_VALUE, max_size=3),
        dropped=st.sets(st.sampled_from(MEMBERS[path]), max_size=2),
    )
    def probe(changes: dict[str, Any], dropped: set[str]) -> None:
        body = {k: v for k, v in VALID[path].items() if k not in dropped}
        body.update(changes)
        check(root.post(path, json=body))

    probe()
    check(root.post(path, content=b"[1, 2"))  # not JSON
    check(root.post(path, json=[1, 2]))  # not an object
    valid = root.post(path, json=VALID[path])
    assert valid.status_code == (503 if path == "/flood/notify" else 200), valid.text


def test_service_queries(root):
    @SETTINGS
    @given(
        path=st.sampled_from(sorted(GETS)),
        picks=st.data(),
    )
    def probe(path: str, picks: st.DataObject) -> None:
        params = picks.draw(st.dictionaries(st.sampled_from(GETS[path]), PARAM, max_size=3))
        check(root.get(path, params=params))

    probe()


def test_cyber_ingest_of_generated_lines(root):
    line = st.one_of(
        TEXT,
        st.builds(
            "<{}>1 2026-12-02T00:00:00Z {} sshd {} - - Failed password for {} from {} port {} ssh2".format,
            st.integers(0, 999), TEXT, st.integers(0, 10**40), TEXT, TEXT, st.integers(0, 10**40),
        ),
        st.builds(
            '{{"ts": {}, "id.orig_h": "10.0.0.1", "id.resp_h": "10.0.0.2", "duration": {}, '
            '"orig_bytes": {}}}'.format, NUMBER, NUMBER, NUMBER,
        ),
    )  # fmt: skip

    @SETTINGS
    @given(
        lines=st.lists(line, min_size=1, max_size=5),
        fmt=st.sampled_from(["auto", "syslog", "zeek"]),
    )
    def probe(lines: list[str], fmt: str) -> None:
        response = root.post("/cyber/events", params={"format": fmt}, content="\n".join(lines))
        check(response)
        if response.status_code == 200:
            report = response.json()
            assert report["lines"] == len("\n".join(lines).splitlines())
            assert report["events"] + sum(report["skipped"].values()) <= report["lines"]

    probe()


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        # each of these was a 500 (or an unbounded request) before the routes checked members
        ("/safety/allocate", {"cameras": "x", "crimes": {"a": 1}}, 400, "cameras"),
        ("/safety/allocate", {"cameras": 5, "crimes": [1]}, 400, "crimes"),
        ("/safety/allocate", {"cameras": 10**12, "crimes": {"a": 1}}, 400, "cameras"),
        ("/safety/hotspots", {"areas": [1], "counts": {}}, 400, "areas"),
        ("/safety/hotspots", {"permutations": "x"}, 400, "permutations"),
        ("/safety/hotspots", {"permutations": 10**9}, 400, "permutations"),
        ("/safety/curve", {**VALID["/safety/curve"], "max_facilities": 10**9}, 400, "max_facilities"),
        ("/safety/site", {**VALID["/safety/site"], "model": 5}, 400, "model"),
        ("/flood/notify", [1], 400, "data"),
        ("/flood/notify", {"data": 5}, 400, "data"),
        ("/flood/notify", {"data": []}, 503, "no flood service"),
    ],
)  # fmt: skip
def test_known_bad_bodies(root, path, body, status, words):
    response = root.post(path, json=body)
    assert response.status_code == status, response.text
    check(response)
    assert words in response.json()["detail"]


def test_eve_flow_counts_that_are_not_counts_skip_the_line(root):
    line = ('{"timestamp": "2026-12-02T00:00:00Z", "event_type": "flow", "src_ip": "10.0.0.1", '
            '"dest_ip": "10.0.0.2", "flow": {"bytes_toserver": %s, "bytes_toclient": 1}}')  # fmt: skip
    body = "\n".join(line % v for v in ('"many"', "-1", "[1]", "7"))
    report = root.post("/cyber/events", params={"format": "eve"}, content=body).json()
    assert (report["lines"], report["events"], report["skipped"]) == (4, 1, {"bad number": 3})
