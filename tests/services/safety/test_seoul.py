"""The worked Seoul example of docs/safety.md on the real district data (internal, not shipped)."""

from __future__ import annotations

import pytest

from conftest import SHARED_DATA
from smartseoul.services.safety.districts import read_station_crimes, read_station_gu
from smartseoul.services.safety.seoul import gu_siting_problem, seoul_districts
from smartseoul.services.safety.siting import solve_mclp

SAFETY = SHARED_DATA / "safety"


@pytest.fixture(scope="module")
def seoul():
    if not (SAFETY / "district-stats").is_dir():
        pytest.skip(f"the real Seoul district data is not at {SAFETY} (internal police statistics)")
    return seoul_districts(SAFETY)


def test_real_files_read_and_station_map(seoul):
    assert len(seoul.crimes) == 25 and sum(seoul.crimes.values()) == 126_401
    assert seoul.crimes["강서구"] == 5_585  # 강서서, mislabelled 양천구 in the -with-gu file
    # The plain file (cp949, thousands separators) gives the same totals with the station map.
    plain = read_station_crimes(
        SAFETY / "district-stats" / "crime-by-police-station-2016.csv",
        station_gu=read_station_gu(
            SAFETY / "district-stats" / "crime-by-police-station-2016-with-gu.csv"
        ),
    )
    assert sum(s.total for s in plain) == 126_401


def test_rates_hotspots_and_allocation(seoul):
    found = seoul.hotspots(permutations=999)
    assert found.rates["중구"] == pytest.approx(4954 / 133.240)
    kinds = dict(zip([a.name for a in found.areas], found.gi.kind, strict=True))
    assert kinds["성동구"] == "hot" and kinds["강북구"] == "cold"
    assert sum(k != "none" for k in kinds.values()) == 2
    allocation = seoul.allocation(1000)
    assert sum(v["allocated"] for v in allocation.values()) == 1000
    assert allocation["송파구"]["allocated"] == 169 and allocation["강남구"]["allocated"] == 0


def test_mclp_inside_songpa(seoul):
    problem, info = gu_siting_problem(seoul, "송파구", spacing=200.0, radius=200.0)
    assert info["cells"] > 700
    result = solve_mclp(problem, 40)
    assert result.status == "optimal" and 0 < result.coverage < 1
    assert sum(s.new_weight for s in result.sites) == pytest.approx(result.objective)
