"""The safe-city service: inputs from files or the hub, plans and hotspots back into the hub.

Everything hub-side goes through :class:`~smartseoul.hub.client.HubClient`. Points in the
hub are entities with a GeoJSON Point ``location`` (any type: ``Incident``, ``Device``
cameras, candidate sites) and an optional numeric weight attribute; areas are entities
with a Polygon ``location`` (the demo city's ``AdministrativeArea`` gu).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from smartseoul.hub.client import HubClient
from smartseoul.services.safety.errors import GeometryError, SafetyInputError
from smartseoul.services.safety.hotspots import (
    contiguity_weights,
    getis_ord_gi_star,
    rates_per_1000,
)
from smartseoul.services.safety.inputs import (
    Area,
    LocalProjection,
    PointSet,
    areas_from_features,
    points_from_records,
    project,
    read_points,
)
from smartseoul.services.safety.outputs import (
    SAFETY_CONTEXT,
    hotspot_entities,
    plan_entities,
)
from smartseoul.services.safety.siting import CoverageProblem, SitingResult, solve_lscp, solve_mclp

__all__ = [
    "AreaHotspots",
    "SiteInputs",
    "area_hotspots",
    "areas_from_hub",
    "load_site_inputs",
    "plan_sites",
    "points_from_hub",
    "read_plan",
    "write_hotspots",
    "write_plan",
]

Method = Literal["exact", "heuristic", "auto"]


@dataclass
class SiteInputs:
    """Demand, candidates and existing cameras, projected to metres together."""

    demand: PointSet
    candidates: PointSet
    existing: PointSet | None
    projection: LocalProjection | None

    @classmethod
    def of(
        cls, demand: PointSet, candidates: PointSet, existing: PointSet | None = None
    ) -> SiteInputs:
        return cls(demand, candidates, existing, project(demand, candidates, existing))


def load_site_inputs(
    demand: Path | str, candidates: Path | str, existing: Path | str | None = None
) -> SiteInputs:
    """Read the three point files (CSV or GeoJSON) and project them together."""
    return SiteInputs.of(
        read_points(demand),
        read_points(candidates),
        read_points(existing) if existing is not None else None,
    )


def records_site_inputs(
    demand: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]] | None = None,
) -> SiteInputs:
    """The same from JSON records (an HTTP body)."""
    return SiteInputs.of(
        points_from_records(demand, source="demand"),
        points_from_records(candidates, source="candidates"),
        points_from_records(existing, source="existing") if existing else None,
    )


def plan_sites(
    inputs: SiteInputs,
    *,
    radius: float,
    facilities: int | None,
    model: Literal["mclp", "lscp"] = "mclp",
    method: Method = "exact",
    time_limit: float | None = 60.0,
) -> tuple[CoverageProblem, SitingResult]:
    """Build the coverage problem and solve the MCLP (``facilities`` new sites) or LSCP."""
    problem = CoverageProblem.build(
        inputs.demand.metres(),
        inputs.candidates.metres(),
        radius,
        weights=inputs.demand.weights,
        existing_xy=inputs.existing.metres() if inputs.existing is not None else None,
        demand_ids=inputs.demand.ids,
        candidate_ids=inputs.candidates.ids,
    )
    if model == "lscp":
        return problem, solve_lscp(problem, time_limit=time_limit)
    if facilities is None:
        raise SafetyInputError("the MCLP needs the number of new cameras (facilities)")
    return problem, solve_mclp(problem, facilities, method=method, time_limit=time_limit)


async def points_from_hub(
    client: HubClient,
    type: str,
    *,
    weight_attr: str | None = None,
    q: str | None = None,
    tenant: str = "",
    context: Any = None,
) -> PointSet:
    """Entities of ``type`` with a Point ``location`` as points (weight from ``weight_attr``).

    Raises
    ------
    GeometryError
        An entity without a Point location; the message names it.
    """
    attrs = ["location"] + ([weight_attr] if weight_attr else [])
    entities = await client.query(type=type, q=q, attrs=attrs, key_values=True,
                                  context=context or SAFETY_CONTEXT, tenant=tenant,
                                  limit=1_000_000)  # fmt: skip
    if not entities:
        raise SafetyInputError(f"the hub has no {type} entities")
    records = []
    for e in entities:
        location = e.get("location") or {}
        if location.get("type") != "Point":
            raise GeometryError(f"hub entity {e['id']}: location must be a GeoJSON Point, "
                                f"got {location.get('type')!r}")  # fmt: skip
        lon, lat = location["coordinates"][:2]
        record = {"id": e["id"], "lon": lon, "lat": lat}
        if weight_attr and e.get(weight_attr) is not None:
            record["weight"] = e[weight_attr]
        records.append(record)
    return points_from_records(records, source=f"hub {type}")


async def areas_from_hub(
    client: HubClient, *, type: str = "AdministrativeArea", tenant: str = ""
) -> list[Area]:
    """Area entities with a Polygon ``location`` (the demo city's gu by default)."""
    entities = await client.query(type=type, attrs=["location", "code", "name"], key_values=True,
                                  context=SAFETY_CONTEXT, tenant=tenant)  # fmt: skip
    features = []
    for e in entities:
        name = e.get("name")
        if isinstance(name, dict):  # a LanguageProperty: prefer the Korean name
            name = name.get("ko") or next(iter(name.values()), None)
        features.append({"id": e["id"], "geometry": e.get("location"),
                         "properties": {"code": e.get("code") or e["id"], "name": name}})  # fmt: skip
    if not features:
        raise SafetyInputError(f"the hub has no {type} entities")
    return areas_from_features(features, source=f"hub {type}")


async def write_plan(
    client: HubClient,
    result: SitingResult,
    problem: CoverageProblem,
    candidates: PointSet,
    *,
    name: str,
    facilities: int | None,
    plan_id: str | None = None,
    tenant: str = "",
) -> str:
    """Write the plan and its sites as entities; returns the ``CoveragePlan`` id."""
    plan_id = plan_id or f"urn:ngsi-ld:CoveragePlan:{uuid.uuid4().hex[:12]}"
    entities = plan_entities(result, problem, candidates, plan_id=plan_id, name=name,
                             facilities=facilities)  # fmt: skip
    outcome = await client.upsert(entities, context=SAFETY_CONTEXT, tenant=tenant)
    if outcome.errors:
        raise SafetyInputError(f"the hub refused the plan: {outcome.errors[0]}")
    return plan_id


async def read_plan(client: HubClient, plan_id: str, *, tenant: str = "") -> dict[str, Any]:
    """A stored plan as GeoJSON: its sites as ranked Point features, the plan as properties."""
    plan = await client.get(plan_id, context=SAFETY_CONTEXT, tenant=tenant, key_values=True)
    sites = await client.query(type="CameraSite", q=f'refCoveragePlan=="{plan_id}"',
                               key_values=True, context=SAFETY_CONTEXT, tenant=tenant)  # fmt: skip
    sites.sort(key=lambda s: s.get("rank", 0))
    features = [
        {"type": "Feature", "geometry": s["location"],
         "properties": {k: v for k, v in s.items() if k not in ("location", "@context")}}
        for s in sites
    ]  # fmt: skip
    props = {k: v for k, v in plan.items() if k not in ("location", "@context")}
    return {"type": "FeatureCollection", "features": features, "properties": props}


@dataclass
class AreaHotspots:
    """Gi* on area counts (or rates), with the counts, rates and population used."""

    areas: list[Area]
    counts: np.ndarray
    rates: dict[str, float] | None
    population: dict[str, float] | None
    gi: Any


def area_hotspots(
    areas: Sequence[Area],
    counts: Mapping[str, float],
    *,
    population: Mapping[str, float] | None = None,
    statistic: Literal["rate", "count"] = "rate",
    permutations: int = 999,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> AreaHotspots:
    """Gi* over areas with queen contiguity, on rates per 1,000 residents (or raw counts).

    ``counts`` and ``population`` are keyed by area name or code; an area with no count is
    an error naming it.
    """
    areas = list(areas)
    missing = [a.name for a in areas if a.name not in counts and a.code not in counts]
    if missing:
        raise SafetyInputError(f"no count for area(s) {', '.join(missing)}")
    values = np.array([counts.get(a.name, counts.get(a.code, 0.0)) for a in areas], dtype=float)
    rates = None
    pop: dict[str, float] | None = None
    if population is not None:
        pop = {a.name: float(population.get(a.name, population.get(a.code, 0))) for a in areas}
        rates = rates_per_1000({a.name: values[k] for k, a in enumerate(areas)}, pop)
    if statistic == "rate":
        if rates is None:
            raise SafetyInputError("rates per 1,000 need the population of each area")
        x = np.array([rates[a.name] for a in areas])
    else:
        x = values
    gi = getis_ord_gi_star(x, contiguity_weights(areas), permutations=permutations,
                           alpha=alpha, seed=seed)  # fmt: skip
    return AreaHotspots(areas, values, rates, pop, gi)


async def write_hotspots(client: HubClient, found: AreaHotspots, *, tenant: str = "") -> list[str]:
    """Write one ``CrimeHotspot`` entity per area; returns their ids."""
    entities = hotspot_entities(found.areas, found.gi, found.counts, rates=found.rates,
                                population=found.population)  # fmt: skip
    outcome = await client.upsert(entities, context=SAFETY_CONTEXT, tenant=tenant)
    if outcome.errors:
        raise SafetyInputError(f"the hub refused the hotspots: {outcome.errors[0]}")
    return outcome.written
