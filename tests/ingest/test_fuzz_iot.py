"""Generated requests against the IoT agent's HTTP API (``/iot``), on both backends.

Hypothesis draws device specs for provisioning, UltraLight 2.0 text and JSON measurement
payloads for a provisioned device, and the southbound ``/iot/d?k=&i=`` form: known measure
names and values among numbers, separators, JSON fragments and arbitrary Unicode (NUL
included). With the hub healthy, no answer is a 5xx (a 503 would tell a device to retry a
message that can never be stored), a refusal is a problem body, and a receipt counts what
was accepted and why the rest was rejected. Derandomized, so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import fuzz_settings

SETTINGS = fuzz_settings()
TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
MEASURES = ["t", "h", "p", "s", "b", "zz"]
TOKEN = st.one_of(
    st.sampled_from(MEASURES),
    st.sampled_from(["21.5", "-3", "1e308", "1e999", "NaN", "true", "0", "", "|", "#", "\x00"]),
    st.integers(-(2**70), 2**70).map(str),
    TEXT,
)
SCALAR = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
)
JSON_VALUE = st.recursive(
    SCALAR | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)
SPEC_MEMBERS = {
    "id": st.sampled_from(["dev-1", "dev-2"]) | TEXT,
    "apikey": st.sampled_from(["k9"]) | TEXT,
    "entityId": st.sampled_from(["urn:ngsi-ld:Probe:dev-1", "not a uri"]) | TEXT,
    "entityType": st.sampled_from(["Probe"]) | TEXT,
    "measures": st.dictionaries(
        st.sampled_from(MEASURES) | TEXT,
        st.sampled_from(["temperature", "status"])
        | st.fixed_dictionaries(
            {},
            optional={
                "attr": st.sampled_from(["pressure", "ok"]) | TEXT,
                "type": st.sampled_from(["Number", "Integer", "Text", "Boolean"]) | TEXT,
                "unitCode": st.sampled_from(["CEL"]) | TEXT,
            },
        )
        | JSON_VALUE,
        max_size=3,
    ),
    "timezone": st.sampled_from(["Asia/Seoul", "Mars/Olympus"]) | TEXT,
}
DEVICE = {
    "id": "probe-1", "apikey": "k1", "entityId": "urn:ngsi-ld:Probe:probe-1",
    "entityType": "Probe",
    "measures": {"t": {"attr": "temperature", "unitCode": "CEL"}, "h": "relativeHumidity",
                 "p": {"attr": "pressure", "type": "Integer"},
                 "s": {"attr": "status", "type": "Text"}, "b": {"attr": "on", "type": "Boolean"}},
}  # fmt: skip


def check_problem(response: Any) -> None:
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"], body


def check_receipt(response: Any) -> None:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code == 200:
        assert body["accepted"] >= 1, body
    elif "accepted" not in body:
        check_problem(response)
        return
    assert all(isinstance(r["reason"], str) and r["reason"] for r in body["rejected"]), body


@pytest.fixture
def root(hub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.base, timeout=30) as client:
        yield client


def test_provisioning_answers_every_spec(root):
    @SETTINGS
    @given(
        spec=st.fixed_dictionaries({}, optional=SPEC_MEMBERS),
        wrap=st.sampled_from(["object", "list", "devices"]),
    )
    def probe(spec: dict[str, Any], wrap: str) -> None:
        body: Any = {"object": spec, "list": [spec], "devices": {"devices": [spec]}}[wrap]
        response = root.post("/iot/devices", json=body)
        assert response.status_code in (201, 400), response.text
        if response.status_code == 400:
            check_problem(response)

    probe()


def test_measurements_answer_every_payload(root):
    created = root.post("/iot/devices", json=DEVICE)
    assert created.status_code == 201, created.text

    @SETTINGS
    @given(groups=st.lists(st.lists(TOKEN, min_size=1, max_size=6), min_size=1, max_size=3))
    @example(groups=[["p", "1e300", "t", "21.5"]])  # found by a random run: failed its batch
    def ultralight(groups: list[list[str]]) -> None:
        text = "#".join("|".join(tokens) for tokens in groups)
        response = root.post(
            "/iot/k1/probe-1/attrs", content=text.encode(), headers={"Content-Type": "text/plain"}
        )
        check_receipt(response)

    @SETTINGS
    @given(
        payload=st.one_of(
            st.fixed_dictionaries({}, optional={m: JSON_VALUE for m in MEASURES}),
            JSON_VALUE,
        )
    )
    @example(payload={"p": 1e300, "t": 20})
    def json_payload(payload: Any) -> None:
        response = root.post("/iot/k1/probe-1/attrs", json=payload)
        check_receipt(response)

    @SETTINGS
    @given(
        apikey=st.sampled_from(["k1"]) | TEXT,
        device=st.sampled_from(["probe-1"]) | TEXT,
        text=st.lists(TOKEN, min_size=1, max_size=4).map("|".join),
    )
    def southbound(apikey: str, device: str, text: str) -> None:
        response = root.post(
            f"/iot/d?k={quote(apikey, safe='')}&i={quote(device, safe='')}", content=text.encode()
        )
        check_receipt(response)

    ultralight()
    json_payload()
    southbound()
