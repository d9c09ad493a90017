"""Results as plain JSON, GeoJSON for the map and NGSI-LD entities for the hub (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from smartseoul.ingest.demo_city import DEMO_CONTEXT
from smartseoul.services.safety.errors import SafetyInputError
from smartseoul.services.safety.hotspots import DensitySurface, GiStar
from smartseoul.services.safety.inputs import Area, LocalProjection, PointSet
from smartseoul.services.safety.siting import CoverageProblem, SitingResult

__all__ = [
    "SAFETY_CONTEXT",
    "density_geojson",
    "hotspot_entities",
    "hotspot_geojson",
    "plan_entities",
    "plan_geojson",
    "site_summary",
    "solver_text",
]

_DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
_TERMS = (
    "CoveragePlan", "CameraSite", "CrimeHotspot", "model", "coverageRadius", "facilities",
    "coveredWeight", "coverage", "totalWeight", "existingWeight", "solver", "solverStatus",
    "upperBound", "optimalityGap", "solveSeconds", "siteCount", "refCoveragePlan", "rank",
    "newlyCoveredWeight", "newlyCoveredPoints", "uniqueWeight", "crimeCount", "population",
    "ratePer1000", "giStarZ", "pValue", "qValue", "hotspotClass", "permutations",
    "falseDiscoveryRate",
)  # fmt: skip
SAFETY_CONTEXT: dict[str, str] = {**DEMO_CONTEXT, **{term: _DEFAULT + term for term in _TERMS}}
"""Terms of the safety entities on top of the demo city's (``name``, ``code``,
``AdministrativeArea``). No Smart Data Model covers plans or hotspots, so their terms use
the NGSI-LD default vocabulary (where they would expand without any context)."""


def solver_text(result: SitingResult) -> str:
    """``highs`` when proven optimal, else the solver with its status and gap."""
    if result.status == "optimal":
        return result.solver
    gap = f", gap {100 * result.gap:.3f}%" if result.gap is not None else ""
    against = " to the LP bound" if result.status == "heuristic" else ""
    return f"{result.solver} ({result.status.replace('_', ' ')}{gap}{against})"


def _site_position(points: PointSet, j: int) -> dict[str, float]:
    if points.geographic:
        lon, lat = points.coords[j]
        return {"lon": round(float(lon), 7), "lat": round(float(lat), 7)}
    x, y = points.coords[j]
    return {"x": float(x), "y": float(y)}


def site_summary(result: SitingResult, candidates: PointSet) -> dict[str, Any]:
    """The ``safety site --json`` object: objective, coverage, sites, solver, seconds."""
    return {
        "objective": round(result.objective, 9),
        "coverage": round(result.coverage, 9),
        "sites": [
            {
                "id": s.id,
                **_site_position(candidates, s.index),
                "new_weight": round(s.new_weight, 9),
                "new_points": s.new_points,
                "unique_weight": round(s.unique_weight, 9),
            }
            for s in result.sites
        ],
        "solver": solver_text(result),
        "seconds": round(result.seconds, 4),
    }


def _need_lonlat(*sets: PointSet | None) -> None:
    for s in sets:
        if s is not None and not s.geographic:
            raise SafetyInputError(
                f"{s.source}: GeoJSON and hub entities need lon/lat (WGS84) points, not x/y metres"
            )


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [round(float(lon), 7), round(float(lat), 7)]}


def plan_geojson(
    result: SitingResult,
    problem: CoverageProblem,
    demand: PointSet,
    candidates: PointSet,
    existing: PointSet | None = None,
) -> dict[str, Any]:
    """Chosen sites, existing cameras and demand points (with how each is covered)."""
    _need_lonlat(demand, candidates, existing)
    features: list[dict[str, Any]] = []
    for rank, s in enumerate(result.sites, start=1):
        features.append({"type": "Feature", "geometry": _point(*candidates.coords[s.index]),
                         "properties": {"kind": "site", "id": s.id, "rank": rank,
                                        "new_weight": s.new_weight, "new_points": s.new_points,
                                        "unique_weight": s.unique_weight,
                                        "radius": problem.radius}})  # fmt: skip
    if existing is not None:
        for k, ident in enumerate(existing.ids):
            features.append({"type": "Feature", "geometry": _point(*existing.coords[k]),
                             "properties": {"kind": "existing", "id": ident}})  # fmt: skip
    new = problem.covered(result.site_indices) & ~problem.existing
    for i, ident in enumerate(demand.ids):
        covered = "existing" if problem.existing[i] else "new" if new[i] else None
        features.append({"type": "Feature", "geometry": _point(*demand.coords[i]),
                         "properties": {"kind": "demand", "id": ident,
                                        "weight": float(demand.weights[i]), "covered": covered}})  # fmt: skip
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"model": result.model, "objective": result.objective,
                       "coverage": result.coverage, "solver": result.solver,
                       "status": result.status, "gap": result.gap, "bound": result.bound},
    }  # fmt: skip


def _prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


def plan_entities(
    result: SitingResult,
    problem: CoverageProblem,
    candidates: PointSet,
    *,
    plan_id: str,
    name: str,
    facilities: int | None,
    observed_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """A ``CoveragePlan`` entity and one ``CameraSite`` per chosen site (ranked)."""
    _need_lonlat(candidates)
    moment = (observed_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan: dict[str, Any] = {
        "id": plan_id,
        "type": "CoveragePlan",
        "name": _prop(name),
        "model": _prop(result.model),
        "coverageRadius": _prop(problem.radius, unitCode="MTR"),
        "coveredWeight": _prop(result.objective, observedAt=moment),
        "coverage": _prop(result.coverage, unitCode="C62", observedAt=moment),
        "totalWeight": _prop(result.total_weight),
        "existingWeight": _prop(result.existing_weight),
        "solver": _prop(result.solver),
        "solverStatus": _prop(result.status),
        "solveSeconds": _prop(round(result.seconds, 4), unitCode="SEC"),
        "siteCount": _prop(len(result.sites)),
    }
    if facilities is not None:
        plan["facilities"] = _prop(facilities)
    if result.bound is not None:
        plan["upperBound"] = _prop(result.bound)
        plan["optimalityGap"] = _prop(result.gap, unitCode="C62")
    if result.sites:
        lons, lats = zip(*(candidates.coords[s.index] for s in result.sites), strict=True)
        plan["location"] = {"type": "GeoProperty", "value": {
            "type": "MultiPoint", "coordinates": [[round(float(a), 7), round(float(b), 7)]
                                                  for a, b in zip(lons, lats, strict=True)]}}  # fmt: skip
    suffix = plan_id.rsplit(":", 1)[-1]
    sites = [
        {
            "id": f"urn:ngsi-ld:CameraSite:{suffix}:{rank}",
            "type": "CameraSite",
            "name": _prop(s.id),
            "rank": _prop(rank),
            "location": {"type": "GeoProperty", "value": _point(*candidates.coords[s.index])},
            "newlyCoveredWeight": _prop(s.new_weight),
            "newlyCoveredPoints": _prop(s.new_points),
            "uniqueWeight": _prop(s.unique_weight),
            "refCoveragePlan": {"type": "Relationship", "object": plan_id},
        }
        for rank, s in enumerate(result.sites, start=1)
    ]
    return [plan, *sites]


def _area_rows(
    areas: Sequence[Area],
    gi: GiStar,
    counts: np.ndarray,
    rates: Mapping[str, float] | None,
    population: Mapping[str, float] | None,
) -> list[dict[str, Any]]:
    rows = []
    for k, area in enumerate(areas):
        row: dict[str, Any] = {
            "code": area.code, "name": area.name, "count": float(counts[k]),
            "z": float(gi.z[k]), "p_norm": float(gi.p_norm[k]), "p_sim": float(gi.p_sim[k]),
            "q": float(gi.q[k]), "class": gi.kind[k],
        }  # fmt: skip
        if rates is not None:
            row["rate_per_1000"] = rates.get(area.name, rates.get(area.code))
        if population is not None:
            row["population"] = population.get(area.name, population.get(area.code))
        rows.append(row)
    return rows


def hotspot_geojson(
    areas: Sequence[Area],
    gi: GiStar,
    counts: np.ndarray,
    *,
    rates: Mapping[str, float] | None = None,
    population: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One polygon feature per area with its count, rate, Gi* z, p-values and class."""
    rows = _area_rows(areas, gi, counts, rates, population)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": area.geometry, "properties": row}
            for area, row in zip(areas, rows, strict=True)
        ],  # fmt: skip
        "properties": {
            "statistic": "Getis-Ord Gi*",
            "permutations": gi.permutations,
            "false_discovery_rate": gi.alpha,
        },  # fmt: skip
    }


def hotspot_entities(
    areas: Sequence[Area],
    gi: GiStar,
    counts: np.ndarray,
    *,
    rates: Mapping[str, float] | None = None,
    population: Mapping[str, float] | None = None,
    prefix: str = "urn:ngsi-ld:CrimeHotspot:seoul",
    observed_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """One ``CrimeHotspot`` entity per area (its polygon, count, rate and Gi* result)."""
    moment = (observed_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for area, row in zip(areas, _area_rows(areas, gi, counts, rates, population), strict=True):
        entity: dict[str, Any] = {
            "id": f"{prefix}:{area.code}",
            "type": "CrimeHotspot",
            "code": _prop(area.code),
            "name": _prop(area.name),
            "location": {"type": "GeoProperty", "value": area.geometry},
            "crimeCount": _prop(row["count"], observedAt=moment),
            "giStarZ": _prop(row["z"], observedAt=moment),
            "pValue": _prop(row["p_sim"]),
            "qValue": _prop(row["q"]),
            "hotspotClass": _prop(row["class"], observedAt=moment),
            "permutations": _prop(gi.permutations),
            "falseDiscoveryRate": _prop(gi.alpha),
        }
        if row.get("rate_per_1000") is not None:
            entity["ratePer1000"] = _prop(row["rate_per_1000"], observedAt=moment)
        if row.get("population") is not None:
            entity["population"] = _prop(row["population"])
        out.append(entity)
    return out


def density_geojson(
    surface: DensitySurface, projection: LocalProjection, *, min_share: float = 0.01
) -> dict[str, Any]:
    """Cells of the density surface as polygons (cells below ``min_share`` of the peak left out)."""
    rows, cols = surface.values.shape
    peak = float(surface.values.max())
    features = []
    for r, c in zip(*np.nonzero(surface.values >= min_share * peak), strict=True):
        x0, y0 = surface.x0 + c * surface.cell, surface.y0 + r * surface.cell
        ring = projection.inverse(np.array([[x0, y0], [x0 + surface.cell, y0],
                                            [x0 + surface.cell, y0 + surface.cell],
                                            [x0, y0 + surface.cell], [x0, y0]]))  # fmt: skip
        features.append({"type": "Feature",
                         "geometry": {"type": "Polygon", "coordinates": [ring.round(7).tolist()]},
                         "properties": {"density_per_km2": float(surface.values[r, c])}})  # fmt: skip
    return {"type": "FeatureCollection", "features": features,
            "properties": {"kernel": "quartic", "bandwidth_m": surface.bandwidth,
                           "cell_m": surface.cell, "peak_per_km2": peak}}  # fmt: skip
