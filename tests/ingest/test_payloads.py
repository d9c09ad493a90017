"""Device payload parsing: JSON and UltraLight text, bad parts set aside, good ones kept."""

from __future__ import annotations

import pytest

from smartseoul.ingest.payloads import convert_value, parse_payload, parse_time


def pairs(parsed):
    return [(r.name, r.raw, r.observed_at) for r in parsed.readings]


def reasons(parsed):
    return [(r.reason, r.measure) for r in parsed.rejections]


def test_ultralight_pairs():
    parsed = parse_payload(b"t|21.5|h|40")
    assert pairs(parsed) == [("t", "21.5", None), ("h", "40", None)]
    assert parsed.rejections == []


def test_ultralight_groups_with_timestamps():
    parsed = parse_payload(b"2026-05-01T09:00:00Z|t|21.5#2026-05-01T18:02:00+09:00|t|21.7")
    assert pairs(parsed) == [
        ("t", "21.5", "2026-05-01T09:00:00.000Z"),
        ("t", "21.7", "2026-05-01T09:02:00.000Z"),
    ]


def test_ultralight_dangling_name_keeps_the_rest():
    parsed = parse_payload(b"t|21.5|h|40|p")
    assert pairs(parsed) == [("t", "21.5", None), ("h", "40", None)]
    assert reasons(parsed) == [("malformed_payload", "p")]


def test_ultralight_bad_value_is_the_mappers_job():
    # Parsing keeps "oops" as a raw value; conversion (by the agent) rejects it alone.
    parsed = parse_payload(b"t|21.5|h|oops|p|3")
    assert [r.name for r in parsed.readings] == ["t", "h", "p"]


def test_json_object_and_time_keys():
    parsed = parse_payload(b'{"t": 21.5, "h": 40, "TimeInstant": "2026-05-01T09:00:00Z"}')
    assert pairs(parsed) == [
        ("t", 21.5, "2026-05-01T09:00:00.000Z"),
        ("h", 40, "2026-05-01T09:00:00.000Z"),
    ]
    epoch_ms = parse_payload(b'{"t": 1, "ts": 1777626000000}')
    assert pairs(epoch_ms) == [("t", 1, "2026-05-01T09:00:00.000Z")]


def test_json_list_of_observations_and_bad_members():
    parsed = parse_payload(b'[{"t": 1, "ts": 1777626000}, 5, {"t": 2, "ts": "yesterday"}]')
    assert pairs(parsed) == [("t", 1, "2026-05-01T09:00:00.000Z"), ("t", 2, None)]
    assert reasons(parsed) == [("malformed_payload", None), ("bad_timestamp", "ts")]


@pytest.mark.parametrize("body", [b"{not json", b'"text"', b"\xff\xfe|t"])
def test_malformed_payloads_are_rejections_not_exceptions(body):
    parsed = parse_payload(body)
    assert parsed.readings == []
    assert [r.reason for r in parsed.rejections] == ["malformed_payload"]


def test_content_type_hint_wins():
    assert pairs(parse_payload(b"{}", content_type="text/plain")) == []
    assert reasons(parse_payload(b"t|1", content_type="application/json")) == [
        ("malformed_payload", None)
    ]


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("21.5", "Number", 21.5),
        (40, "Number", 40),
        ("12.0", "Integer", 12),
        ("on", "Boolean", True),
        (3, "Text", "3"),
    ],
)
def test_convert_value(raw, kind, value):
    assert convert_value(raw, kind) == value
    assert type(convert_value(raw, kind)) is type(value)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("oops", "Number"), ("nan", "Number"), (True, "Number"), ("1.5", "Integer"), ("x", "Boolean"),
     ({"a": 1}, "Text"), (None, "Number"), ("1", "Colour"), ("1e999", "Number"),
     # beyond 64 bits: the hub's JSON cannot keep it, and it would fail its whole batch
     (str(2**63), "Integer"), ("1e300", "Integer"), (2.0**63, "Integer")],
)  # fmt: skip
def test_convert_value_rejects(raw, kind):
    with pytest.raises(ValueError):
        convert_value(raw, kind)


def test_convert_value_keeps_integers_exact_and_large_numbers_as_floats():
    assert convert_value("9007199254740993", "Integer") == 9007199254740993  # not via float
    assert convert_value(str(2**63 - 1), "Integer") == 2**63 - 1
    assert convert_value(2**70, "Number") == float(2**70)
    assert type(convert_value(2**70, "Number")) is float


def test_parse_time_forms():
    assert parse_time("2026-05-01T09:00:00") == "2026-05-01T09:00:00.000Z"  # naive = UTC
    assert parse_time(1777626000.25) == "2026-05-01T09:00:00.250Z"
    for bad in ("soon", True, float("inf"), [1]):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_bulk_import_integer_cells_stay_within_64_bits():
    from smartseoul.datasets import DatasetError
    from smartseoul.ingest.mapping import AttributeSpec

    spec = AttributeSpec("count", "N", kind="integer")
    assert spec.convert("1,234") == 1234
    with pytest.raises(DatasetError, match="64-bit"):
        spec.convert("1e300")
    with pytest.raises(DatasetError, match="finite"):
        AttributeSpec("level", "L").convert("1e999")
