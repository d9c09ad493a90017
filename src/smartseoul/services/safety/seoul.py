"""The worked Seoul example of docs/safety.md, from the real district data.

The police crime file is for internal use only (``../shared/data/DATA.md``), so it is read
from the data folder, never shipped; population and CCTV counts are shipped tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartseoul.datasets import shipped_file
from smartseoul.datasets.boundaries import SHIPPED_BOUNDARIES
from smartseoul.services.safety.budget import allocate_cameras, residual_demand
from smartseoul.services.safety.districts import (
    crimes_by_gu,
    read_cctv_counts,
    read_population,
    read_station_crimes,
)
from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.inputs import Area, LocalProjection, grid_candidates, read_areas
from smartseoul.services.safety.service import AreaHotspots, area_hotspots
from smartseoul.services.safety.siting import CoverageProblem

__all__ = ["SeoulDistricts", "gu_siting_problem", "seoul_districts"]

CRIME_FILE = "district-stats/crime-by-police-station-2016-with-gu.csv"


@dataclass
class SeoulDistricts:
    """Crimes (2016), residents (2017 Q1), cameras (2016) and polygons of the 25 gu."""

    areas: list[Area]
    crimes: dict[str, float]
    population: dict[str, int]
    cameras: dict[str, int]

    def hotspots(
        self, *, permutations: int = 999, alpha: float = 0.05, seed: int = 0
    ) -> AreaHotspots:
        """Gi* on crime rates per 1,000 residents with queen contiguity."""
        return area_hotspots(self.areas, self.crimes, population=self.population,
                             permutations=permutations, alpha=alpha, seed=seed)  # fmt: skip

    def allocation(self, cameras: int) -> dict[str, dict[str, float]]:
        return allocate_cameras(
            cameras, self.crimes, {k: float(v) for k, v in self.cameras.items()}
        )


def seoul_districts(safety_dir: Path | str) -> SeoulDistricts:
    """Read the example's inputs; ``safety_dir`` is ``../shared/data/safety``."""
    path = Path(safety_dir) / CRIME_FILE
    if not path.is_file():
        raise SafetyInputError(f"{path} is missing (the police statistics are not shipped)")
    return SeoulDistricts(
        areas=read_areas(shipped_file(SHIPPED_BOUNDARIES)),
        crimes={k: float(v) for k, v in crimes_by_gu(read_station_crimes(path)).items()},
        population=read_population(shipped_file("population-by-district-2017q1.csv")),
        cameras=read_cctv_counts(shipped_file("cctv-by-district-2016.csv")),
    )


def gu_siting_problem(
    seoul: SeoulDistricts, gu: str, *, spacing: float = 100.0, radius: float = 100.0
) -> tuple[CoverageProblem, dict[str, Any]]:
    """An MCLP instance inside one gu: grid demand carrying the gu's crimes, grid candidates.

    Demand: cell centres ``spacing`` apart inside the gu, each carrying an equal share of
    the gu's crimes (no incident points are published), scaled by the chance that none of
    the gu's existing cameras, placed at random, covers it (:func:`residual_demand`: only
    counts per gu are published). Candidates: the same cell centres.
    """
    [area] = [a for a in seoul.areas if a.name == gu]
    centre = area.shape.representative_point()
    projection = LocalProjection(centre.x, centre.y)
    grid = grid_candidates([area], spacing, projection)
    assert grid.xy is not None
    area_m2 = len(grid) * spacing**2
    share = seoul.crimes[gu] / len(grid)
    weights = residual_demand(np.full(len(grid), share), seoul.cameras[gu], area_m2, radius)
    problem = CoverageProblem.build(grid.xy, grid.xy, radius, weights=weights,
                                    demand_ids=grid.ids, candidate_ids=grid.ids)  # fmt: skip
    return problem, {"cells": len(grid), "area_km2": area_m2 / 1e6, "crimes": seoul.crimes[gu],
                     "cameras": seoul.cameras[gu],
                     "uncovered_share": float(weights.sum() / seoul.crimes[gu])}  # fmt: skip
