"""``smartseoul safety``: camera siting, hotspots, coverage curves and budget allocation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from smartseoul.config import Settings
from smartseoul.datasets import DatasetError

__all__ = ["command"]

_file = click.Path(exists=True, dir_okay=False, path_type=Path)
_out = click.Path(dir_okay=False, path_type=Path)


def _run(func: Callable[[], Any]) -> Any:
    """Run a step; input errors become one clear line on stderr and exit status 1."""
    from smartseoul.services.safety.errors import SafetyInputError

    try:
        return func()
    except (SafetyInputError, DatasetError) as err:
        raise click.ClickException(str(err)) from None


def _write_hub(url: str, work: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
    from smartseoul.hub.client import HttpHubClient

    async def go() -> Any:
        client = HttpHubClient(url)
        try:
            return await work(client)
        finally:
            await client.close()

    return asyncio.run(go())


def _save(path: Path, body: Any) -> None:
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")


def _echo_json(body: Any) -> None:
    click.echo(json.dumps(body, ensure_ascii=False))


@click.group(name="safety", help="Safe city: crime hotspots (kernel density, Getis-Ord Gi*) and "
             "CCTV siting (maximal covering and set covering, solved exactly with HiGHS).")  # fmt: skip
def command() -> None:
    pass


def _site_options(func: Any) -> Any:
    options = [
        click.option("--demand", type=_file, required=True,
                     help="Demand points: CSV (id, lon, lat or x, y in metres, optional weight) "
                     "or GeoJSON Points."),
        click.option("--candidates", type=_file, required=True,
                     help="Candidate camera sites, same format as --demand."),
        click.option("--existing", type=_file, default=None,
                     help="Existing cameras (fixed; the demand they cover is pre-counted)."),
        click.option("--radius", type=click.FloatRange(min=0, min_open=True), required=True,
                     help="Coverage radius of a camera in metres."),
        click.option("--method", type=click.Choice(["exact", "heuristic", "auto"]), default="exact",
                     show_default=True,
                     help="exact: HiGHS MILP; heuristic: greedy + swap with its gap to the LP "
                     "bound; auto: exact, falling back to the better plan at the time limit."),
        click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
                     help="Seconds for HiGHS (default SMARTSEOUL_SAFETY_TIME_LIMIT)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@command.command(help="Choose sites for new cameras: the MCLP (at most --facilities new cameras "
                 "covering the most demand weight) or the LSCP (fewest cameras covering all).")  # fmt: skip
@_site_options
@click.option(
    "--facilities",
    type=click.IntRange(min=0),
    default=None,
    help="New cameras to place (MCLP; not used by --model lscp).",
)
@click.option(
    "--model",
    type=click.Choice(["mclp", "lscp"]),
    default="mclp",
    show_default=True,
    help="mclp: maximal covering; lscp: location set covering.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    default=False,
    help="Print one JSON object {objective, coverage, sites, solver, seconds}.",
)
@click.option(
    "--geojson",
    type=_out,
    default=None,
    help="Write sites, existing cameras and demand (with coverage) as GeoJSON here.",
)
@click.option(
    "--url",
    default=None,
    help="Write the plan to this hub (…/ngsi-ld/v1) as CoveragePlan and CameraSite entities.",
)
@click.option("--name", default="CCTV plan", show_default=True, help="Name of the plan entity.")
@click.option("--tenant", default="", help="NGSI-LD tenant for --url.")
def site(demand: Path, candidates: Path, existing: Path | None, radius: float, method: str,
         time_limit: float | None, facilities: int | None, model: str, as_json: bool,
         geojson: Path | None, url: str | None, name: str, tenant: str) -> None:  # fmt: skip
    from smartseoul.services.safety.outputs import plan_geojson, site_summary
    from smartseoul.services.safety.service import load_site_inputs, plan_sites, write_plan

    if model == "mclp" and facilities is None:
        raise click.UsageError("--facilities is required for --model mclp")
    limit = time_limit or Settings().safety_time_limit
    inputs = _run(lambda: load_site_inputs(demand, candidates, existing))
    problem, result = _run(lambda: plan_sites(inputs, radius=radius, facilities=facilities,
                                              model=model, method=method, time_limit=limit))  # type: ignore[arg-type]  # fmt: skip
    if geojson is not None:
        _save(geojson, _run(lambda: plan_geojson(result, problem, inputs.demand, inputs.candidates,
                                                 inputs.existing)))  # fmt: skip
    plan_id = None
    if url:
        plan_id = _run(lambda: _write_hub(url, lambda c: write_plan(
            c, result, problem, inputs.candidates, name=name, facilities=facilities, tenant=tenant)))  # fmt: skip
    summary = site_summary(result, inputs.candidates)
    if as_json:
        _echo_json(summary)
        return
    click.echo(f"{model.upper()}: {len(result.sites)} new site(s) cover {result.objective:g} of "
               f"{result.total_weight:g} demand weight ({100 * result.coverage:.2f}%; existing "
               f"cameras {result.existing_weight:g}); solver {summary['solver']}, "
               f"{result.seconds:.3f} s")  # fmt: skip
    for rank, s in enumerate(summary["sites"], start=1):
        click.echo(f"  {rank:3d}. {s['id']}: newly covers {s['new_weight']:g} "
                   f"({s['new_points']} points), alone {s['unique_weight']:g}")  # fmt: skip
    if plan_id:
        click.echo(f"written to the hub as {plan_id}")


@command.command(help="Coverage against the number of new cameras: the MCLP solved for "
                 "p = 0, step, 2 step, ... up to --max-facilities.")  # fmt: skip
@_site_options
@click.option(
    "--max-facilities",
    type=click.IntRange(min=1),
    required=True,
    help="Largest number of new cameras on the curve.",
)
@click.option(
    "--step",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Cameras between two points of the curve.",
)
@click.option(
    "--json", "as_json", is_flag=True, default=False, help="Print the curve as a JSON list."
)
def curve(demand: Path, candidates: Path, existing: Path | None, radius: float, method: str,
          time_limit: float | None, max_facilities: int, step: int, as_json: bool) -> None:  # fmt: skip
    from dataclasses import asdict

    from smartseoul.services.safety.budget import coverage_curve
    from smartseoul.services.safety.service import load_site_inputs
    from smartseoul.services.safety.siting import CoverageProblem

    limit = time_limit or Settings().safety_time_limit
    inputs = _run(lambda: load_site_inputs(demand, candidates, existing))
    problem = _run(lambda: CoverageProblem.build(
        inputs.demand.metres(), inputs.candidates.metres(), radius, weights=inputs.demand.weights,
        existing_xy=inputs.existing.metres() if inputs.existing is not None else None,
        demand_ids=inputs.demand.ids, candidate_ids=inputs.candidates.ids))  # fmt: skip
    points = _run(lambda: coverage_curve(problem, range(0, max_facilities + 1, step),
                                         method=method, time_limit=limit))  # type: ignore[arg-type]  # fmt: skip
    if as_json:
        _echo_json([asdict(p) for p in points])
        return
    click.echo("cameras  covered weight  coverage  marginal  status")
    before = None
    for p in points:
        marginal = "" if before is None else f"{p.objective - before:g}"
        click.echo(
            f"{p.p:7d}  {p.objective:14g}  {100 * p.coverage:7.2f}%  {marginal:>8}  {p.status}"
        )
        before = p.objective


def _area_counts(
    crimes: Path | None, station_map: Path | None, counts: Path | None
) -> dict[str, float]:
    from smartseoul.services.safety.districts import (
        crimes_by_gu,
        read_area_counts,
        read_station_crimes,
        read_station_gu,
    )

    if crimes is not None:
        mapping = read_station_gu(station_map) if station_map else None
        return {
            k: float(v)
            for k, v in crimes_by_gu(read_station_crimes(crimes, station_gu=mapping)).items()
        }
    if counts is not None:
        return read_area_counts(counts)
    raise click.UsageError("give --crimes (police-station file) or --counts (area, count CSV)")


_crime_options = [
    click.option("--crimes", type=_file, default=None,
                 help="Five major crimes per police station (CSV, 관서명 and '<crime> 발생' columns)."),
    click.option("--station-map", type=_file, default=None,
                 help="Police station to gu map (CSV with 관서명, 구별) when --crimes has no 구별 column."),
    click.option("--counts", type=_file, default=None,
                 help="Counts per area instead: CSV with area (name or code) and count."),
]  # fmt: skip


def _with(options: list[Any]) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@command.command(help="Crime hotspots over areas (gu by default): rates per 1,000 residents and "
                 "Getis-Ord Gi* with conditional permutations and FDR control; optional kernel "
                 "density of incident points.")  # fmt: skip
@_with(_crime_options)
@click.option(
    "--incidents",
    type=_file,
    default=None,
    help="Incident points (CSV or GeoJSON with time and type), counted per area.",
)
@click.option(
    "--areas",
    type=_file,
    default=None,
    help="Area polygons (GeoJSON; default: the shipped Seoul gu boundaries).",
)
@click.option(
    "--population",
    type=_file,
    default=None,
    help="Residents per gu (CSV 자치구, 인구; default: the shipped 2017 Q1 table).",
)
@click.option(
    "--statistic",
    type=click.Choice(["rate", "count"]),
    default="rate",
    show_default=True,
    help="Run Gi* on rates per 1,000 residents or on raw counts.",
)
@click.option(
    "--permutations",
    type=click.IntRange(min=19),
    default=None,
    help="Permutations (default SMARTSEOUL_SAFETY_PERMUTATIONS).",
)
@click.option(
    "--fdr",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="False-discovery rate (default SMARTSEOUL_SAFETY_FDR).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed of the permutations."
)
@click.option(
    "--density",
    type=_out,
    default=None,
    help="With --incidents: write the kernel density surface here (GeoJSON cells).",
)
@click.option(
    "--bandwidth",
    type=click.FloatRange(min=0, min_open=True),
    default=500.0,
    show_default=True,
    help="Kernel bandwidth in metres (quartic kernel).",
)
@click.option(
    "--cell",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Density cell size in metres.",
)
@click.option("--geojson", type=_out, default=None, help="Write the areas with their results here.")
@click.option(
    "--json", "as_json", is_flag=True, default=False, help="Print the per-area results as JSON."
)
@click.option("--url", default=None, help="Write CrimeHotspot entities to this hub (…/ngsi-ld/v1).")
@click.option("--tenant", default="", help="NGSI-LD tenant for --url.")
def hotspots(crimes: Path | None, station_map: Path | None, counts: Path | None,
             incidents: Path | None, areas: Path | None, population: Path | None, statistic: str,
             permutations: int | None, fdr: float | None, seed: int, density: Path | None,
             bandwidth: float, cell: float, geojson: Path | None, as_json: bool, url: str | None,
             tenant: str) -> None:  # fmt: skip
    from smartseoul.datasets import shipped_file
    from smartseoul.datasets.boundaries import SHIPPED_BOUNDARIES
    from smartseoul.services.safety.districts import read_population
    from smartseoul.services.safety.hotspots import count_in_areas, kernel_density
    from smartseoul.services.safety.inputs import project, read_areas, read_points
    from smartseoul.services.safety.outputs import density_geojson, hotspot_geojson
    from smartseoul.services.safety.service import area_hotspots, write_hotspots

    settings = Settings()
    shapes = _run(lambda: read_areas(areas or shipped_file(SHIPPED_BOUNDARIES)))
    if incidents is not None:
        points = _run(lambda: read_points(incidents))
        if not points.geographic:
            raise click.ClickException(f"{incidents}: incidents must be lon/lat to fall in areas")
        totals = count_in_areas(points.coords, points.weights, shapes)
        area_counts = {a.code: float(totals[k]) for k, a in enumerate(shapes)}
        if density is not None:
            projection = project(points)
            assert projection is not None and points.xy is not None
            surface = _run(
                lambda: kernel_density(points.xy, points.weights, bandwidth=bandwidth, cell=cell)
            )
            _save(density, density_geojson(surface, projection))
    else:
        area_counts = _run(lambda: _area_counts(crimes, station_map, counts))
    pop = _run(
        lambda: read_population(population or shipped_file("population-by-district-2017q1.csv"))
    )
    found = _run(lambda: area_hotspots(
        shapes, area_counts, population=pop if statistic == "rate" else None,
        statistic="rate" if statistic == "rate" else "count",
        permutations=permutations or settings.safety_permutations,
        alpha=fdr or settings.safety_fdr, seed=seed))  # fmt: skip
    collection = hotspot_geojson(found.areas, found.gi, found.counts, rates=found.rates,
                                 population=found.population)  # fmt: skip
    if geojson is not None:
        _save(geojson, collection)
    if url:
        _run(lambda: _write_hub(url, lambda c: write_hotspots(c, found, tenant=tenant)))
    rows = [f["properties"] for f in collection["features"]]
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"Getis-Ord Gi* on {statistic}s, {found.gi.permutations} permutations, "
               f"FDR {found.gi.alpha:g}")  # fmt: skip
    for r in sorted(rows, key=lambda r: -r["z"]):
        rate = f"{r['rate_per_1000']:7.2f}/1000" if r.get("rate_per_1000") is not None else ""
        click.echo(f"  {r['name']:<8} {r['count']:9g} {rate}  z {r['z']:6.2f}  p {r['p_sim']:.3f}  "
                   f"q {r['q']:.3f}  {r['class']}")  # fmt: skip


@command.command(help="Share N new cameras across gu by need: the shortfall of each gu against a "
                 "crime-proportional share of all cameras, rounded by largest remainder.")  # fmt: skip
@click.option("--cameras", type=click.IntRange(min=0), required=True, help="New cameras to share.")
@_with(_crime_options)
@click.option(
    "--cctv",
    type=_file,
    default=None,
    help="Existing cameras per gu (CSV 기관명, 소계; default: the shipped 2016 file).",
)
@click.option(
    "--json", "as_json", is_flag=True, default=False, help="Print the allocation as JSON."
)
def allocate(cameras: int, crimes: Path | None, station_map: Path | None, counts: Path | None,
             cctv: Path | None, as_json: bool) -> None:  # fmt: skip
    from smartseoul.datasets import shipped_file
    from smartseoul.services.safety.budget import allocate_cameras
    from smartseoul.services.safety.districts import read_cctv_counts

    area_counts = _run(lambda: _area_counts(crimes, station_map, counts))
    existing = _run(lambda: read_cctv_counts(cctv or shipped_file("cctv-by-district-2016.csv")))
    plan = _run(lambda: allocate_cameras(cameras, area_counts,
                                         {k: float(v) for k, v in existing.items()}))  # fmt: skip
    if as_json:
        _echo_json(plan)
        return
    click.echo("area      crimes  cameras   target     need  allocated")
    for k, v in sorted(plan.items(), key=lambda kv: -kv[1]["allocated"]):
        click.echo(f"{k:<8} {v['crimes']:7g} {v['existing']:8g} {v['target']:8.1f} {v['need']:8.1f} "
                   f"{v['allocated']:10d}")  # fmt: skip
