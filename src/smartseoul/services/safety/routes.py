"""HTTP routes of the safety service, under ``/safety`` (thin: the work is in ``service``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.datasets import DatasetError
from smartseoul.hub.api.common import tenant_of
from smartseoul.hub.client import local_client
from smartseoul.hub.errors import BadRequestData, InvalidRequest
from smartseoul.services.safety.errors import SafetyInputError

__all__ = ["routes"]


def _json(body: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(f"the body is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object")
    return body


# Members of the request bodies, checked before any work so that a wrong type or an absurd
# size is a 400 naming the member (not a 500 from deep in the solver, nor a request that
# asks for a billion permutations or camera counts).
MAX_COUNT = 100_000  # permutations, cameras, facilities: far above any city's need


def _number(body: dict[str, Any], name: str, default: Any = None, *, low: float = 0.0,
            high: float = 1e7, integer: bool = False) -> Any:  # fmt: skip
    value = body.get(name, default)
    if value is None:
        raise BadRequestData(f"{name} is required")
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRequestData(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadRequestData(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:
        raise BadRequestData(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    if integer:
        if value != int(value):
            raise BadRequestData(f"{name} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _choice(body: dict[str, Any], name: str, default: str, options: tuple[str, ...]) -> Any:
    value = body.get(name, default)
    if value not in options:
        raise BadRequestData(f"{name} must be one of {', '.join(options)}, got {value!r}")
    return value


def _mapping(body: dict[str, Any], name: str, *, required: bool = False) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise BadRequestData(f"{name} must be a JSON object")
    return value


def _figures(name: str, figures: dict[str, Any] | None) -> Any:
    """Counts per area (crimes, residents, cameras): each a number from 0 to 10^12."""
    for area, value in (figures or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                0 <= value <= 1e12):  # fmt: skip
            raise BadRequestData(f"{name}.{area} must be a count from 0, got {value!r}")
    return figures


def _records(body: dict[str, Any], name: str) -> list[Any]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadRequestData(f"{name} must be an array of point records (objects)")
    return value


def _site_members(body: dict[str, Any]) -> dict[str, Any]:
    """The members /site and /curve share, checked."""
    existing = body.get("existing")
    return {
        "demand": _records(body, "demand"),
        "candidates": _records(body, "candidates"),
        "existing": None if existing is None else _records(body, "existing"),
        "radius": _number(body, "radius", low=1e-3, high=1e5),
        "method": _choice(body, "method", "exact", ("exact", "heuristic", "auto")),
    }


async def _guard(work: Any) -> Any:
    """Run blocking solver work off the event loop; input errors become 400 BadRequestData."""
    try:
        return await run_in_threadpool(work)
    except (SafetyInputError, DatasetError) as err:
        raise BadRequestData(str(err)) from None


async def site(request: Request) -> Response:
    """Solve an MCLP or LSCP on posted demand, candidates and existing cameras; optionally store the plan."""
    from smartseoul.services.safety.outputs import plan_geojson, site_summary
    from smartseoul.services.safety.service import plan_sites, records_site_inputs, write_plan

    body = await _body(request)
    settings = request.app.state.settings
    members = _site_members(body)
    model = _choice(body, "model", "mclp", ("mclp", "lscp"))
    facilities = None
    if model == "mclp" or body.get("facilities") is not None:
        facilities = _number(body, "facilities", high=MAX_COUNT, integer=True)
    name = body.get("name", "CCTV plan")
    if not isinstance(name, str):
        raise BadRequestData("name must be a string")

    def work() -> Any:
        inputs = records_site_inputs(members["demand"], members["candidates"],
                                     members["existing"])  # fmt: skip
        return inputs, *plan_sites(inputs, radius=members["radius"], facilities=facilities,
                                   model=model, method=members["method"],
                                   time_limit=settings.safety_time_limit)  # fmt: skip

    inputs, problem, result = await _guard(work)
    answer: dict[str, Any] = site_summary(result, inputs.candidates)
    answer.update(status=result.status, bound=result.bound, gap=result.gap)
    if body.get("geojson"):
        answer["geojson"] = await _guard(lambda: plan_geojson(result, problem, inputs.demand,
                                                              inputs.candidates, inputs.existing))  # fmt: skip
    if body.get("write"):
        try:
            answer["plan"] = await write_plan(local_client(request.app), result, problem,
                                              inputs.candidates, name=name,
                                              facilities=facilities, tenant=tenant_of(request))  # fmt: skip
        except SafetyInputError as err:
            raise BadRequestData(str(err)) from None
    return _json(answer, 201 if body.get("write") else 200)


async def plan(request: Request) -> Response:
    """A stored coverage plan and its ranked camera sites as GeoJSON."""
    from smartseoul.services.safety.service import read_plan

    found = await read_plan(local_client(request.app), request.path_params["plan_id"],
                            tenant=tenant_of(request))  # fmt: skip
    return _json(found, media_type="application/geo+json")


async def hotspots(request: Request) -> Response:
    """Gi* hotspots over areas from posted counts (areas and population from the body or the hub)."""
    from smartseoul.services.safety.inputs import areas_from_features
    from smartseoul.services.safety.outputs import hotspot_geojson
    from smartseoul.services.safety.service import area_hotspots, areas_from_hub, write_hotspots

    body = await _body(request)
    settings = request.app.state.settings
    client = local_client(request.app)
    counts = _figures("counts", _mapping(body, "counts")) or {}
    population = _figures("population", _mapping(body, "population"))
    statistic = _choice(body, "statistic", "rate" if population else "count", ("count", "rate"))
    permutations = _number(body, "permutations", settings.safety_permutations, low=19,
                           high=MAX_COUNT, integer=True)  # fmt: skip
    alpha = _number(body, "fdr", settings.safety_fdr, low=1e-9, high=1 - 1e-9)
    seed = None if "seed" in body and body["seed"] is None else _number(  # null: unseeded
        body, "seed", 0, high=2**32 - 1, integer=True)  # fmt: skip
    shapes = _mapping(body, "areas")
    if shapes is not None and not isinstance(shapes.get("features", []), list):
        raise BadRequestData("areas must be a GeoJSON FeatureCollection")
    try:
        if shapes:
            areas = areas_from_features(shapes.get("features", []), source="areas")
        else:
            areas = await areas_from_hub(client, tenant=tenant_of(request))
    except SafetyInputError as err:
        raise BadRequestData(str(err)) from None
    found = await _guard(lambda: area_hotspots(
        areas, counts, population=population, statistic=statistic,
        permutations=permutations, alpha=alpha, seed=seed))  # fmt: skip
    if body.get("write"):
        await write_hotspots(client, found, tenant=tenant_of(request))
    collection = hotspot_geojson(found.areas, found.gi, found.counts, rates=found.rates,
                                 population=found.population)  # fmt: skip
    return _json(collection, media_type="application/geo+json")


async def curve(request: Request) -> Response:
    """Coverage against the number of new cameras for posted demand and candidates."""
    from dataclasses import asdict

    from smartseoul.services.safety.budget import coverage_curve
    from smartseoul.services.safety.service import plan_sites, records_site_inputs

    body = await _body(request)
    settings = request.app.state.settings
    members = _site_members(body)
    ps = body.get("facilities")
    if ps is None:
        top = _number(body, "max_facilities", 10, high=1000, integer=True)
        ps = list(range(0, top + 1))
    elif not (isinstance(ps, list) and 0 < len(ps) <= 1000 and all(
            isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= MAX_COUNT for p in ps)):
        raise BadRequestData(f"facilities must be an array of 1 to 1000 counts (0 to {MAX_COUNT})")

    def work() -> Any:
        inputs = records_site_inputs(members["demand"], members["candidates"],
                                     members["existing"])  # fmt: skip
        problem, _ = plan_sites(inputs, radius=members["radius"], facilities=0)
        return [asdict(p) for p in coverage_curve(problem, ps, method=members["method"],
                                                  time_limit=settings.safety_time_limit)]  # fmt: skip

    return _json(await _guard(work))


async def allocate(request: Request) -> Response:
    """Share N new cameras across areas by need (crime-proportional shortfall, largest remainder)."""
    from smartseoul.services.safety.budget import allocate_cameras

    body = await _body(request)
    cameras = _number(body, "cameras", high=MAX_COUNT, integer=True)
    crimes = _figures("crimes", _mapping(body, "crimes", required=True))
    existing = _figures("existing", _mapping(body, "existing"))
    return _json(await _guard(lambda: allocate_cameras(cameras, crimes, existing)))


routes = [
    Route("/site", site, methods=["POST"]),
    Route("/plans/{plan_id}", plan, methods=["GET"]),
    Route("/hotspots", hotspots, methods=["POST"]),
    Route("/curve", curve, methods=["POST"]),
    Route("/allocate", allocate, methods=["POST"]),
]
