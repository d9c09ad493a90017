"""``smartseoul safety`` through click's CliRunner on small CSV fixtures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from smartseoul.cli import main

DEMAND_XY = "id,x,y,weight\nd1,0,0,5\nd2,100,0,1\nd3,1000,0,3\nd4,1100,0,3\nd5,5000,0,1\n"
CANDIDATES_XY = "id,x,y\nc1,50,0\nc2,1050,0\nc3,5000,10\n"
EXISTING_XY = "id,x,y\ne1,0,10\n"


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, text in [
        ("demand.csv", DEMAND_XY),
        ("candidates.csv", CANDIDATES_XY),
        ("existing.csv", EXISTING_XY),
    ]:
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def run(*args):
    return CliRunner().invoke(main, ["safety", *map(str, args)])


def test_site_json_in_metres(files):
    result = run(
        "site",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
        "--facilities",
        1,
        "--json",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert list(body) == ["objective", "coverage", "sites", "solver", "seconds"]
    assert body["objective"] == 6.0  # c2 covers d3 + d4 (6) against c1's d1 + d2 (6): a tie
    assert body["coverage"] == pytest.approx(6 / 13)
    assert body["solver"] == "highs"
    [site] = body["sites"]
    assert site["id"] in ("c1", "c2") and site["new_weight"] == 6.0 and "x" in site


def test_site_json_with_existing_cameras(files):
    result = run(
        "site",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--existing",
        files["existing.csv"],
        "--radius",
        100,
        "--facilities",
        1,
        "--json",
    )
    body = json.loads(result.output)
    # e1 already covers d1 (5): the one new camera goes to c2 (6 more) -> 11 of 13.
    assert body["objective"] == 11.0
    assert [s["id"] for s in body["sites"]] == ["c2"]
    assert body["sites"][0]["new_weight"] == 6.0


def test_site_json_in_lon_lat(tmp_path):
    # Three incidents near Seoul City Hall and one in Gangnam; candidates at each place.
    (tmp_path / "d.csv").write_text(
        "id,lon,lat,weight\na,126.9780,37.5665,2\nb,126.9790,37.5668,1\nc,127.0276,37.4979,4\n"
    )
    (tmp_path / "c.csv").write_text("id,lon,lat\nhall,126.9785,37.5666\ngangnam,127.0275,37.4980\n")
    result = run(
        "site",
        "--demand",
        tmp_path / "d.csv",
        "--candidates",
        tmp_path / "c.csv",
        "--radius",
        150,
        "--facilities",
        2,
        "--json",
        "--geojson",
        tmp_path / "plan.geojson",
    )
    body = json.loads(result.output)
    assert body["objective"] == 7.0 and body["coverage"] == 1.0
    assert [s["id"] for s in body["sites"]] == ["gangnam", "hall"]
    assert {"lon", "lat"} <= set(body["sites"][0])
    collection = json.loads((tmp_path / "plan.geojson").read_text())
    kinds = [f["properties"]["kind"] for f in collection["features"]]
    assert kinds.count("site") == 2 and kinds.count("demand") == 3


def test_lscp_and_its_infeasible_error(files):
    ok = run(
        "site",
        "--model",
        "lscp",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
        "--json",
    )
    assert ok.exit_code == 0 and len(json.loads(ok.output)["sites"]) == 3
    bad = run(
        "site",
        "--model",
        "lscp",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        40,
        "--json",
    )
    assert bad.exit_code == 1
    assert "LSCP infeasible" in bad.output and "d2" in bad.output and "40 m" in bad.output


def test_bad_geometry_is_a_clear_error(tmp_path, files):
    (tmp_path / "bad.csv").write_text("id,lon,lat\n1,126.9,37.5\n2,,37.5\n")
    result = run(
        "site",
        "--demand",
        tmp_path / "bad.csv",
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
        "--facilities",
        1,
    )
    assert result.exit_code == 1
    assert "bad.csv row 3: lon '' is not a number" in result.output
    missing = run(
        "site",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
    )
    assert missing.exit_code == 2 and "--facilities" in missing.output


def test_curve_and_heuristic(files):
    result = run(
        "curve",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
        "--max-facilities",
        3,
        "--json",
    )
    points = json.loads(result.output)
    assert [p["objective"] for p in points] == [0.0, 6.0, 12.0, 13.0]
    text = run(
        "site",
        "--demand",
        files["demand.csv"],
        "--candidates",
        files["candidates.csv"],
        "--radius",
        100,
        "--facilities",
        2,
        "--method",
        "heuristic",
    )
    assert (
        text.exit_code == 0 and "greedy+swap (heuristic, gap 0.000% to the LP bound)" in text.output
    )


def test_hotspots_and_allocate_from_counts(tmp_path):
    from smartseoul.datasets.boundaries import GU

    counts = tmp_path / "counts.csv"
    # Crime concentrated in the old centre (종로구, 중구, 용산구), flat elsewhere.
    centre = {"종로구": 9000, "중구": 9000, "용산구": 6000}
    counts.write_text(
        "area,count\n" + "".join(f"{g.name_ko},{centre.get(g.name_ko, 3000)}\n" for g in GU)
    )
    result = run(
        "hotspots", "--counts", counts, "--statistic", "count", "--json", "--permutations", 99
    )
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert len(rows) == 25 and rows["중구"]["z"] > 2 > rows["노원구"]["z"]
    plan = run("allocate", "--cameras", 100, "--counts", counts, "--json")
    allocation = json.loads(plan.output)
    assert sum(v["allocated"] for v in allocation.values()) == 100
