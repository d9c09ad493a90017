"""Temporal queries, provision, representations and aggregation (pure: no store, no HTTP)."""

from __future__ import annotations

import math
import timeit
from datetime import UTC, datetime

import pytest

from smartseoul.hub.errors import BadRequestData, InvalidRequest
from smartseoul.hub.store.base import HistoryRow, TemporalEntityRow
from smartseoul.hub.temporal import (
    SCOPE,
    TemporalQuerySpec,
    merge_temporal_entity,
    parse_temporal_fragment,
    parse_temporal_query,
    replace_history_instance,
    temporal_params_from_query,
)
from smartseoul.hub.temporal_aggregate import (
    AGGREGATION_METHODS,
    Duration,
    aggregate,
    parse_duration,
)
from smartseoul.hub.temporal_render import content_range, limit_instances, render_temporal_entity

EX = "https://example.org/"
VEHICLE = "urn:ngsi-ld:Vehicle:B9211"


def t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def compact(iri: str) -> str:
    if iri == SCOPE:
        return "scope"
    return iri.removeprefix(EX)


def expand(term: str) -> str:
    return term if ":" in term else EX + term


def row(
    attr: str,
    data: dict,
    observed: str | None = None,
    *,
    instance: str = "urn:ngsi-ld:i:1",
    dataset: str = "",
    modified: float | None = None,
    deleted: bool = False,
) -> HistoryRow:
    if observed is not None:
        data = {**data, "observedAt": observed}
    if dataset:
        data = {**data, "datasetId": dataset}
    return HistoryRow(
        entity_id=VEHICLE,
        attr=EX + attr,
        instance_id=instance,
        dataset_id=dataset,
        observed_at=t(observed) if observed else None,
        modified_at=modified if modified is not None else (t(observed) if observed else 0.0),
        data=data,
        deleted=deleted,
    )


def speed_rows() -> list[HistoryRow]:
    """The speed series of annex C, clauses C.5.5 / C.5.6 / C.5.14 (given out of order)."""
    return [
        row("speed", {"type": "Property", "value": 80}, "2018-08-01T12:05:00Z", instance="urn:i:2"),
        row(
            "speed", {"type": "Property", "value": 120}, "2018-08-01T12:03:00Z", instance="urn:i:1"
        ),
        row(
            "speed", {"type": "Property", "value": 100}, "2018-08-01T12:07:00Z", instance="urn:i:3"
        ),
    ]


VEHICLE_ENTITY = TemporalEntityRow(VEHICLE, [EX + "Vehicle"], created_at=0.0, modified_at=0.0)
BETWEEN = {
    "timerel": "between",
    "timeAt": "2018-08-01T12:00:00Z",
    "endTimeAt": "2018-08-01T13:00:00Z",
}


def render(rows, params, **kwargs):
    spec = parse_temporal_query(params)
    return render_temporal_entity(VEHICLE_ENTITY, rows, compact=compact, spec=spec, **kwargs)


# --- parse_temporal_query ------------------------------------------------------------------


def test_parse_defaults():
    spec = parse_temporal_query({})
    assert spec == TemporalQuerySpec()
    assert spec.mode == "normalized" and spec.timeproperty == "observedAt"


def test_parse_between_with_everything():
    spec = parse_temporal_query(
        {
            **BETWEEN,
            "timeproperty": "modifiedAt",
            "lastN": "5",
            "options": "sysAttrs,aggregatedValues",
            "aggrMethods": "max,avg",
            "aggrPeriodDuration": "PT4M",
            "datasetId": "urn:ds:1,@none",
        }
    )
    assert spec.timerel == "between"
    assert spec.time_at == t("2018-08-01T12:00:00Z")
    assert spec.end_time_at == t("2018-08-01T13:00:00Z")
    assert spec.timeproperty == "modifiedAt"
    assert spec.last_n == 5
    assert spec.mode == "aggregatedValues" and spec.sys_attrs
    assert spec.aggr_methods == ("max", "avg")
    assert spec.aggr_period == Duration(seconds=240)
    assert spec.dataset_ids == {"urn:ds:1", ""}
    query = spec.history_query(["urn:x"], [EX + "speed"])
    assert (query.timerel, query.time_at, query.end_time_at) == (
        "between",
        spec.time_at,
        spec.end_time_at,
    )
    assert query.timeproperty == "modifiedAt" and query.include_deleted


def test_format_wins_over_options():
    spec = parse_temporal_query({"format": "temporalValues", "options": "aggregatedValues"})
    assert spec.mode == "temporalValues"
    assert parse_temporal_query({"options": "keyValues"}).mode == "temporalValues"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"timerel": "before"}, "timeAt"),
        ({"timeAt": "2018-08-01T12:00:00Z"}, "timerel"),
        ({"timerel": "during", "timeAt": "2018-08-01T12:00:00Z"}, "timerel"),
        ({"timerel": "between", "timeAt": "2018-08-01T12:00:00Z"}, "endTimeAt"),
        ({"timerel": "after", "timeAt": "yesterday"}, "timeAt"),
        ({"timerel": "after", "timeAt": "2018-13-01T12:00:00Z"}, "timeAt"),
        ({**BETWEEN, "endTimeAt": "2018-08-01T11:00:00Z"}, "endTimeAt"),
        ({"timeproperty": "expiresAt"}, "timeproperty"),
        ({"lastN": "0"}, "lastN"),
        ({"lastN": "-3"}, "lastN"),
        ({"lastN": "many"}, "lastN"),
        ({"format": "aggregatedValues"}, "aggrMethods"),
        ({"format": "aggregatedValues", "aggrMethods": "median"}, "aggrMethods"),
        (
            {"format": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "1D"},
            "aggrPeriodDuration",
        ),
        ({"options": "temporalValues,aggregatedValues"}, "options"),
        ({"options": "fancy"}, "options"),
        ({"format": "geojson"}, "format"),
    ],
)
def test_parse_errors_name_the_parameter(params, named):
    with pytest.raises(BadRequestData) as err:
        parse_temporal_query(params)
    assert err.value.detail.startswith(named) or named in err.value.detail


def test_temporal_query_required_for_query_operation():
    with pytest.raises(BadRequestData, match="timerel"):
        parse_temporal_query({}, require_timerel=True)


def test_params_from_query_body():
    body = {
        "type": "Query",
        "temporalQ": {"timerel": "after", "timeAt": "2018-08-01T12:00:00Z", "lastN": 2},
        "aggrParams": {"aggrMethods": ["sum", "max"], "aggrPeriodDuration": "PT1H"},
        "datasetId": ["urn:ds:1"],
    }
    assert temporal_params_from_query(body) == {
        "timerel": "after",
        "timeAt": "2018-08-01T12:00:00Z",
        "lastN": "2",
        "aggrMethods": "sum,max",
        "aggrPeriodDuration": "PT1H",
        "datasetId": "urn:ds:1",
    }
    with pytest.raises(BadRequestData, match="temporalQ"):
        temporal_params_from_query({"temporalQ": "after"})


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "months", "seconds"),
    [
        ("PT4M", 0, 240),
        ("P1D", 0, 86400),
        ("P1W", 0, 604800),
        ("P1Y2M3DT4H5M6S", 14, 3 * 86400 + 4 * 3600 + 5 * 60 + 6),
        ("PT0.5S", 0, 0.5),
        ("PT1,5H", 0, 5400),
        ("P0D", 0, 0),
        ("PT0S", 0, 0),
    ],
)
def test_parse_duration(text, months, seconds):
    assert parse_duration(text) == Duration(months, seconds)


@pytest.mark.parametrize("text", ["P", "PT", "1D", "P1.5M", "P1W2D", "PT1D", "P-1D", "P1H", ""])
def test_parse_duration_rejects(text):
    with pytest.raises(BadRequestData, match="aggrPeriodDuration"):
        parse_duration(text)


def test_month_shift_is_calendar_aware():
    jan31 = t("2024-01-31T00:00:00Z")
    month = Duration(months=1)
    assert month.shift(jan31, 1) == t("2024-02-29T00:00:00Z")
    assert month.shift(jan31, 2) == t("2024-03-31T00:00:00Z")
    assert Duration(months=12, seconds=3600).shift(jan31, 1) == t("2025-01-31T01:00:00Z")


# --- aggregation ---------------------------------------------------------------------------

# Two periods of PT4M from 12:00: [10, 20, 20] then [40, 50].
SERIES = [
    (t("2018-08-01T12:00:00Z"), 10),
    (t("2018-08-01T12:01:00Z"), 20),
    (t("2018-08-01T12:02:00Z"), 20),
    (t("2018-08-01T12:05:00Z"), 40),
    (t("2018-08-01T12:07:00Z"), 50),
]
P1 = (t("2018-08-01T12:00:00Z"), t("2018-08-01T12:04:00Z"))
P2 = (t("2018-08-01T12:04:00Z"), t("2018-08-01T12:08:00Z"))


@pytest.mark.parametrize(
    ("method", "first", "second"),
    [
        ("totalCount", 3, 2),
        ("distinctCount", 2, 2),
        ("sum", 50, 90),
        ("avg", 50 / 3, 45.0),
        ("min", 10, 40),
        ("max", 20, 50),
        ("sumsq", 900, 4100),
        ("stddev", math.sqrt(200 / 9), 5.0),  # population: ((20/3)^2 + 2 (10/3)^2) / 3
    ],
)
def test_each_method_over_two_periods(method, first, second):
    result = aggregate(SERIES, [method], period=Duration(seconds=240), start=P1[0])
    (v1, *b1), (v2, *b2) = result[method]
    assert (v1, v2) == (pytest.approx(first), pytest.approx(second))
    assert tuple(b1) == P1 and tuple(b2) == P2


def test_whole_range_without_period():
    result = aggregate(SERIES, ["sum", "totalCount"], start=P1[0], end=t("2018-08-01T13:00:00Z"))
    assert result == {
        "sum": [(140, P1[0], t("2018-08-01T13:00:00Z"))],
        "totalCount": [(5, P1[0], t("2018-08-01T13:00:00Z"))],
    }
    # P0D means the same; the end defaults to the last instance
    assert aggregate(SERIES, ["max"], period=Duration()) == {"max": [(50, P1[0], SERIES[-1][0])]}


def test_periods_skip_empty_ones_and_clip_to_the_end():
    points = [(t("2018-08-01T12:00:00Z"), 1), (t("2018-08-01T12:10:00Z"), 2)]
    result = aggregate(
        points, ["totalCount"], period=Duration(seconds=180), end=t("2018-08-01T12:11:00Z")
    )
    assert result["totalCount"] == [
        (1, t("2018-08-01T12:00:00Z"), t("2018-08-01T12:03:00Z")),
        (1, t("2018-08-01T12:09:00Z"), t("2018-08-01T12:11:00Z")),
    ]


def test_monthly_periods():
    points = [
        (t("2024-01-31T00:00:00Z"), 1),
        (t("2024-02-29T12:00:00Z"), 2),
        (t("2024-04-01T00:00:00Z"), 3),
    ]
    result = aggregate(points, ["sum"], period=parse_duration("P1M"))
    assert result["sum"] == [
        (1, t("2024-01-31T00:00:00Z"), t("2024-02-29T00:00:00Z")),
        (2, t("2024-02-29T00:00:00Z"), t("2024-03-31T00:00:00Z")),
        (3, t("2024-03-31T00:00:00Z"), t("2024-04-30T00:00:00Z")),
    ]


def values_of(values, methods=AGGREGATION_METHODS):
    result = aggregate([(float(i), v) for i, v in enumerate(values)], list(methods))
    return {method: series[0][0] for method, series in result.items()}


def test_booleans_count_as_one_and_zero():
    got = values_of([True, False, True])
    assert got == {
        "totalCount": 3,
        "distinctCount": 2,
        "sum": 2,
        "avg": pytest.approx(2 / 3),
        "min": False,
        "max": True,
        "stddev": pytest.approx(math.sqrt(2 / 9)),
        "sumsq": 2,
    }


def test_distinct_count_keeps_true_apart_from_one():
    assert values_of([1, True, 1.0, "1"], ["distinctCount"]) == {"distinctCount": 3}


def test_strings_have_lexicographic_min_max_only():
    assert values_of(["b", "a", "c", "a"]) == {
        "totalCount": 4,
        "distinctCount": 3,
        "min": "a",
        "max": "c",
    }


def test_arrays_use_their_sizes():
    got = values_of([[1, 2], [1], [1, 2, 3]])
    assert got == {"totalCount": 3, "distinctCount": 3, "sum": 6, "avg": 2.0, "min": 1, "max": 3}


def test_objects_only_count():
    assert values_of([{"a": 1}, {"a": 1}, {"b": 2}]) == {"totalCount": 3, "distinctCount": 2}


def test_datetimes_order_chronologically():
    early = {"@type": "DateTime", "@value": "2018-08-01T12:00:00.5Z"}
    late = {"@type": "https://uri.etsi.org/ngsi-ld/DateTime", "@value": "2018-08-01T12:00:01Z"}
    got = values_of([late, early])
    assert got == {"totalCount": 2, "distinctCount": 2, "min": early, "max": late}


def test_times_average():
    got = values_of(
        [{"@type": "Time", "@value": "08:00:00"}, {"@type": "Time", "@value": "09:30:00"}]
    )
    assert got["avg"] == {"@type": "Time", "@value": "08:45:00"}
    assert got["min"]["@value"] == "08:00:00"


def test_relationships_count_distinct_targets():
    points = [(0.0, "urn:a"), (1.0, ["urn:a", "urn:b"]), (2.0, "urn:c")]
    result = aggregate(points, list(AGGREGATION_METHODS), relationship=True)
    assert result == {"totalCount": [(3, 0.0, 2.0)], "distinctCount": [(3, 0.0, 2.0)]}


def test_thousand_rows_take_well_under_a_millisecond_per_method():
    points = [(i * 60.0, (i * 37) % 101 + 0.5) for i in range(1000)]
    methods = list(AGGREGATION_METHODS)
    best = min(
        timeit.repeat(
            lambda: aggregate(points, methods, period=Duration(seconds=3600)), number=5, repeat=5
        )
    )
    assert best / 5 / len(methods) < 1e-3


# --- representations -----------------------------------------------------------------------


def test_normalized_matches_annex_c_5_5():
    out = render(speed_rows(), BETWEEN)
    assert out == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [
            {
                "type": "Property",
                "value": 120,
                "observedAt": "2018-08-01T12:03:00Z",
                "instanceId": "urn:i:1",
            },
            {
                "type": "Property",
                "value": 80,
                "observedAt": "2018-08-01T12:05:00Z",
                "instanceId": "urn:i:2",
            },
            {
                "type": "Property",
                "value": 100,
                "observedAt": "2018-08-01T12:07:00Z",
                "instanceId": "urn:i:3",
            },
        ],
    }


def test_normalized_sys_attrs_and_sub_attributes():
    stamp = "2018-08-01T12:10:00.000000Z"
    data = {
        "type": "Property",
        "value": 1,
        "createdAt": stamp,
        "modifiedAt": stamp,
        EX + "accuracy": {
            "type": "Property",
            "value": 0.5,
            "createdAt": stamp,
            "modifiedAt": stamp,
        },
    }
    rows = [
        row("speed", data, "2018-08-01T12:03:00Z"),
        row(
            "speed",
            {"type": "Property", "value": "urn:ngsi-ld:null", "deletedAt": stamp},
            deleted=True,
            modified=t(stamp),
            instance="urn:i:9",
        ),
    ]
    plain = render(rows, {})["speed"]
    assert plain[0] == {
        "type": "Property",
        "value": 1,
        "observedAt": "2018-08-01T12:03:00Z",
        "accuracy": {"type": "Property", "value": 0.5},
        "instanceId": "urn:ngsi-ld:i:1",
    }
    assert plain[1] == {"type": "Property", "value": "urn:ngsi-ld:null", "instanceId": "urn:i:9"}
    full = render(rows, {"options": "sysAttrs"})
    assert full["createdAt"] == full["modifiedAt"] == "1970-01-01T00:00:00.000000Z"
    assert (
        full["speed"][0]["createdAt"] == stamp
        and full["speed"][0]["accuracy"]["modifiedAt"] == stamp
    )
    assert full["speed"][1]["deletedAt"] == stamp


def test_simplified_matches_annex_c_5_6():
    out = render(speed_rows(), {**BETWEEN, "format": "temporalValues"})
    assert out == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {
            "type": "Property",
            "values": [
                [120, "2018-08-01T12:03:00Z"],
                [80, "2018-08-01T12:05:00Z"],
                [100, "2018-08-01T12:07:00Z"],
            ],
        },
    }


def test_simplified_member_per_attribute_type():
    at1, at2 = "2022-08-09T18:25:02Z", "2022-08-10T18:25:02Z"
    rows = [
        row("spouse", {"type": "Relationship", "object": "urn:ngsi-ld:Person:123455"}, at1),
        row("spouse", {"type": "Relationship", "object": "urn:ngsi-ld:Person:999999"}, at2),
        row("says", {"type": "LanguageProperty", "languageMap": {"en": "yes", "fr": "oui"}}, at1),
        row("gender", {"type": "VocabProperty", "vocab": EX + "Male"}, at1),
        row("period", {"type": "ListProperty", "valueList": ["First", "Second"]}, at1),
        row("tickets", {"type": "JsonProperty", "json": [{"id": "85a6"}]}, at1),
        row(
            "members",
            {"type": "ListRelationship", "objectList": [{"object": "urn:a"}, {"object": "urn:b"}]},
            at1,
        ),
        row(
            "location",
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}},
            at1,
        ),
    ]
    out = render(rows, {"options": "temporalValues"})
    assert out["spouse"] == {
        "type": "Relationship",
        "objects": [["urn:ngsi-ld:Person:123455", at1], ["urn:ngsi-ld:Person:999999", at2]],
    }
    assert out["says"] == {
        "type": "LanguageProperty",
        "languageMaps": [[{"languageMap": {"en": "yes", "fr": "oui"}}, at1]],
    }
    assert out["gender"] == {"type": "VocabProperty", "vocabs": [[{"vocab": "Male"}, at1]]}
    assert out["period"] == {"type": "ListProperty", "valueLists": [[["First", "Second"], at1]]}
    assert out["tickets"] == {"type": "JsonProperty", "jsons": [[{"json": [{"id": "85a6"}]}, at1]]}
    assert out["members"] == {
        "type": "ListRelationship",
        "objectLists": [[["urn:a", "urn:b"], at1]],
    }
    assert out["location"] == {
        "type": "GeoProperty",
        "values": [[{"type": "Point", "coordinates": [1, 2]}, at1]],
    }
    assert render(rows, {"options": "temporalValues"}, lang="fr")["says"] == {
        "type": "Property",
        "values": [["oui", at1]],
    }


def test_simplified_groups_datasets():
    rows = [
        row("speed", {"type": "Property", "value": 1}, "2018-08-01T12:00:00Z"),
        row(
            "speed", {"type": "Property", "value": 2}, "2018-08-01T12:01:00Z", dataset="urn:ds:gps"
        ),
        row("speed", {"type": "Property", "value": 3}, "2018-08-01T12:02:00Z"),
    ]
    assert render(rows, {"format": "temporalValues"})["speed"] == [
        {"type": "Property", "values": [[1, "2018-08-01T12:00:00Z"], [3, "2018-08-01T12:02:00Z"]]},
        {"type": "Property", "datasetId": "urn:ds:gps", "values": [[2, "2018-08-01T12:01:00Z"]]},
    ]
    only_gps = render(rows, {"format": "temporalValues", "datasetId": "urn:ds:gps"})["speed"]
    assert only_gps == {
        "type": "Property",
        "datasetId": "urn:ds:gps",
        "values": [[2, "2018-08-01T12:01:00Z"]],
    }
    default = render(rows, {"format": "temporalValues", "datasetId": "@none"})["speed"]
    assert [v for v, _ in default["values"]] == [1, 3]


def test_simplified_uses_the_time_property():
    rows = [
        row(
            "speed",
            {"type": "Property", "value": 5, "modifiedAt": "2018-08-02T00:00:00.000000Z"},
            "2018-08-01T12:00:00Z",
        )
    ]
    out = render(rows, {"format": "temporalValues", "timeproperty": "modifiedAt"})
    assert out["speed"]["values"] == [[5, "2018-08-02T00:00:00.000000Z"]]


def test_aggregated_matches_annex_c_5_14():
    params = {
        **BETWEEN,
        "format": "aggregatedValues",
        "aggrMethods": "max,avg",
        "aggrPeriodDuration": "PT4M",
    }
    out = render(speed_rows(), params)
    p1 = ["2018-08-01T12:00:00Z", "2018-08-01T12:04:00Z"]  # as the annex writes them
    p2 = ["2018-08-01T12:04:00Z", "2018-08-01T12:08:00Z"]
    assert out == {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": {
            "type": "Property",
            "max": [[120, *p1], [100, *p2]],
            "avg": [[120, *p1], [90, *p2]],
        },
    }


def test_aggregated_ineligible_attribute():
    rows = [
        *speed_rows(),
        row("name", {"type": "Property", "value": "Bus 9211"}, "2018-08-01T12:04:00Z"),
    ]
    params = {**BETWEEN, "format": "aggregatedValues", "aggrMethods": "avg,totalCount"}
    out = render(rows, params)
    assert out["name"] == {
        "type": "Property",
        "totalCount": [[1, "2018-08-01T12:00:00Z", "2018-08-01T13:00:00Z"]],
    }
    assert out["speed"]["avg"][0][0] == 100.0
    with pytest.raises(InvalidRequest, match="avg"):
        render(rows, params, requested_attrs={EX + "name"})


def test_aggregated_relationship_without_time_query_starts_at_first_instance():
    rows = [
        row("driver", {"type": "Relationship", "object": "urn:p:1"}, "2018-08-01T12:00:00Z"),
        row("driver", {"type": "Relationship", "object": "urn:p:1"}, "2018-08-01T12:30:00Z"),
        row("driver", {"type": "Relationship", "object": "urn:p:2"}, "2018-08-01T13:10:00Z"),
    ]
    out = render(
        rows,
        {
            "format": "aggregatedValues",
            "aggrMethods": "distinctCount,sum",
            "aggrPeriodDuration": "PT1H",
        },
    )
    assert out["driver"] == {
        "type": "Relationship",
        "distinctCount": [
            [1, "2018-08-01T12:00:00Z", "2018-08-01T13:00:00Z"],
            [1, "2018-08-01T13:00:00Z", "2018-08-01T14:00:00Z"],
        ],
    }


def test_last_n_keeps_the_latest_per_attribute_and_dataset_in_ascending_order():
    rows = [
        *speed_rows(),
        row(
            "speed", {"type": "Property", "value": 7}, "2018-08-01T12:00:00Z", dataset="urn:ds:gps"
        ),
        row(
            "speed", {"type": "Property", "value": 8}, "2018-08-01T12:09:00Z", dataset="urn:ds:gps"
        ),
        row(
            "speed", {"type": "Property", "value": 9}, "2018-08-01T12:10:00Z", dataset="urn:ds:gps"
        ),
    ]
    out = render(rows, {"format": "temporalValues", "lastN": "2"})
    assert out["speed"] == [
        {
            "type": "Property",
            "values": [[80, "2018-08-01T12:05:00Z"], [100, "2018-08-01T12:07:00Z"]],
        },
        {
            "type": "Property",
            "datasetId": "urn:ds:gps",
            "values": [[8, "2018-08-01T12:09:00Z"], [9, "2018-08-01T12:10:00Z"]],
        },
    ]
    normalized = render(speed_rows(), {"lastN": "1"})
    assert [i["value"] for i in normalized["speed"]] == [100]


def test_scope_without_history_shows_the_current_scope():
    entity = TemporalEntityRow(
        VEHICLE, [EX + "Vehicle"], ["/Madrid/Centro"], 0.0, t("2018-08-01T11:00:00Z")
    )
    spec = parse_temporal_query({"format": "temporalValues"})
    out = render_temporal_entity(entity, speed_rows(), compact=compact, spec=spec)
    assert out["scope"] == {
        "type": "Property",
        "values": [["/Madrid/Centro", "2018-08-01T11:00:00.000000Z"]],
    }
    assert list(out) == ["id", "type", "scope", "speed"]


def test_limit_instances_forwards_and_backwards():
    rows = speed_rows()
    spec = parse_temporal_query(BETWEEN)
    kept, span = limit_instances(rows, spec, 2)
    assert [r.data["value"] for r in kept] == [120, 80]
    assert span == (t("2018-08-01T12:00:00Z"), t("2018-08-01T12:05:00Z"))
    assert (
        content_range(span, spec)
        == "DateTime 2018-08-01T12:00:00Z-2018-08-01T12:05:00Z/*"
    )
    last = parse_temporal_query({**BETWEEN, "lastN": "3"})
    kept, span = limit_instances(rows, last, 2)
    assert [r.data["value"] for r in kept] == [80, 100]
    assert span == (t("2018-08-01T13:00:00Z"), t("2018-08-01T12:05:00Z"))
    assert content_range(span, last).endswith("/3")
    assert limit_instances(rows, spec, 3) == (sorted(rows, key=lambda r: r.observed_at), None)


# --- provision -----------------------------------------------------------------------------

NOW = "2024-05-01T00:00:00.000000Z"


def test_temporal_fragment_normalizes_every_instance():
    body = {
        "id": VEHICLE,
        "type": "Vehicle",
        "speed": [
            {
                "type": "Property",
                "value": 120,
                "observedAt": "2018-08-01T12:03:00Z",
                "instanceId": "urn:x",
            },
            {"type": "Property", "value": 80, "observedAt": "2018-08-01T12:05:00Z"},
        ],
        "driver": {
            "type": "Relationship",
            "objects": [["urn:p:1", "2018-08-01T12:00:00Z"]],
        },
        "scope": [
            {"type": "Property", "value": "/Seoul/Jongno", "observedAt": "2018-08-01T11:00:00Z"}
        ],
    }
    frag = parse_temporal_fragment(body, expand, now=NOW)
    assert frag.entity_id == VEHICLE and frag.types == [EX + "Vehicle"]
    assert frag.scopes == ["/Seoul/Jongno"]
    assert frag.attrs[EX + "speed"] == [
        {
            "type": "Property",
            "value": 120,
            "observedAt": "2018-08-01T12:03:00Z",
            "createdAt": NOW,
            "modifiedAt": NOW,
        },
        {
            "type": "Property",
            "value": 80,
            "observedAt": "2018-08-01T12:05:00Z",
            "createdAt": NOW,
            "modifiedAt": NOW,
        },
    ]
    assert frag.attrs[SCOPE][0]["value"] == "/Seoul/Jongno"
    assert frag.attrs[EX + "driver"] == [
        {
            "type": "Relationship",
            "object": "urn:p:1",
            "observedAt": "2018-08-01T12:00:00Z",
            "createdAt": NOW,
            "modifiedAt": NOW,
        }
    ]


def test_temporal_fragment_accepts_the_simplified_form():
    body = {
        "says": {
            "type": "LanguageProperty",
            "languageMaps": [[{"languageMap": {"en": "yes"}}, "2022-08-09T18:25:02Z"]],
        },
        "speed": {
            "type": "Property",
            "values": [[1, "2022-08-09T18:25:02Z"], [2, "2022-08-10T18:25:02Z"]],
        },
    }
    frag = parse_temporal_fragment(body, expand, now=NOW, require_id=False)
    assert frag.entity_id is None and frag.types == [] and frag.scopes is None
    assert [i["value"] for i in frag.attrs[EX + "speed"]] == [1, 2]
    assert frag.attrs[EX + "says"][0]["languageMap"] == {"en": "yes"}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "JSON object"),
        ({"type": "Vehicle"}, "no id"),
        ({"id": "not a uri", "type": "Vehicle"}, "URI"),
        ({"id": VEHICLE}, "no type"),
        ({"id": VEHICLE, "type": "V", "speed": [1, 2]}, "speed"),
        ({"id": VEHICLE, "type": "V", "speed": []}, "speed"),
        ({"id": VEHICLE, "type": "V", "speed": {"type": "Property", "values": []}}, "speed.values"),
        (
            {"id": VEHICLE, "type": "V", "speed": {"type": "Property", "values": [[1]]}},
            "speed.values",
        ),
        (
            {
                "id": VEHICLE,
                "type": "V",
                "speed": [{"type": "Property", "value": 1, "observedAt": "now"}],
            },
            "observedAt",
        ),
    ],
)
def test_temporal_fragment_errors(body, match):
    with pytest.raises(BadRequestData, match=match):
        parse_temporal_fragment(body, expand, now=NOW)


def test_merge_temporal_entity_adds_types():
    frag = parse_temporal_fragment({"id": VEHICLE, "type": ["Bus", "Vehicle"]}, expand, now=NOW)
    fresh = merge_temporal_entity(None, frag, VEHICLE, 10.0)
    assert fresh == TemporalEntityRow(VEHICLE, [EX + "Bus", EX + "Vehicle"], [], 10.0, 10.0)
    existing = TemporalEntityRow(VEHICLE, [EX + "Vehicle", EX + "Car"], ["/a"], 1.0, 2.0)
    merged = merge_temporal_entity(existing, frag, VEHICLE, 10.0)
    assert merged == TemporalEntityRow(
        VEHICLE, [EX + "Vehicle", EX + "Car", EX + "Bus"], ["/a"], 1.0, 10.0
    )


def test_replace_history_instance_keeps_identity():
    old = row(
        "speed",
        {"type": "Property", "value": 1, "createdAt": "2018-01-01T00:00:00.000000Z"},
        "2018-08-01T12:00:00Z",
        dataset="urn:ds:1",
        instance="urn:i:7",
    )
    now = t("2024-05-01T00:00:00Z")
    new = replace_history_instance(
        old, {"type": "Property", "value": 42, "observedAt": "2018-08-01T12:30:00Z"}, now=now
    )
    assert (new.instance_id, new.dataset_id, new.num, new.modified_at) == (
        "urn:i:7",
        "urn:ds:1",
        42.0,
        now,
    )
    assert new.observed_at == t("2018-08-01T12:30:00Z")
    assert new.data == {
        "type": "Property",
        "value": 42,
        "observedAt": "2018-08-01T12:30:00Z",
        "createdAt": "2018-01-01T00:00:00.000000Z",
        "modifiedAt": "2024-05-01T00:00:00.000000Z",
        "datasetId": "urn:ds:1",
    }


def test_stamp_is_utc_microseconds():
    from smartseoul.hub.temporal import stamp

    assert stamp(datetime(2018, 8, 1, 12, tzinfo=UTC).timestamp()) == "2018-08-01T12:00:00.000000Z"
