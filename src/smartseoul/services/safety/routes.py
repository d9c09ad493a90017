"""HTTP routes of the safety service, under ``/safety`` (thin: the work is in ``service``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.datasets import DatasetError
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


def _tenant(request: Request) -> str:
    return request.headers.get("ngsild-tenant", "")


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
    try:
        radius = float(body["radius"])
        facilities = body.get("facilities")
        model = body.get("model", "mclp")
        method = body.get("method", "exact")
    except (KeyError, TypeError, ValueError) as err:
        raise BadRequestData(f"radius (metres) is required: {err}") from None

    def work() -> Any:
        inputs = records_site_inputs(body.get("demand") or [], body.get("candidates") or [],
                                     body.get("existing"))  # fmt: skip
        return inputs, *plan_sites(inputs, radius=radius, facilities=facilities, model=model,
                                   method=method, time_limit=settings.safety_time_limit)  # fmt: skip

    inputs, problem, result = await _guard(work)
    answer: dict[str, Any] = site_summary(result, inputs.candidates)
    answer.update(status=result.status, bound=result.bound, gap=result.gap)
    if body.get("geojson"):
        answer["geojson"] = await _guard(lambda: plan_geojson(result, problem, inputs.demand,
                                                              inputs.candidates, inputs.existing))  # fmt: skip
    if body.get("write"):
        try:
            answer["plan"] = await write_plan(local_client(request.app), result, problem,
                                              inputs.candidates, name=body.get("name", "CCTV plan"),
                                              facilities=facilities, tenant=_tenant(request))  # fmt: skip
        except SafetyInputError as err:
            raise BadRequestData(str(err)) from None
    return _json(answer, 201 if body.get("write") else 200)


async def plan(request: Request) -> Response:
    """A stored coverage plan and its ranked camera sites as GeoJSON."""
    from smartseoul.services.safety.service import read_plan

    found = await read_plan(local_client(request.app), request.path_params["plan_id"],
                            tenant=_tenant(request))  # fmt: skip
    return _json(found, media_type="application/geo+json")


async def hotspots(request: Request) -> Response:
    """Gi* hotspots over areas from posted counts (areas and population from the body or the hub)."""
    from smartseoul.services.safety.inputs import areas_from_features
    from smartseoul.services.safety.outputs import hotspot_geojson
    from smartseoul.services.safety.service import area_hotspots, areas_from_hub, write_hotspots

    body = await _body(request)
    settings = request.app.state.settings
    client = local_client(request.app)
    try:
        if body.get("areas"):
            areas = areas_from_features(body["areas"].get("features", []), source="areas")
        else:
            areas = await areas_from_hub(client, tenant=_tenant(request))
    except SafetyInputError as err:
        raise BadRequestData(str(err)) from None
    found = await _guard(lambda: area_hotspots(
        areas, body.get("counts") or {}, population=body.get("population"),
        statistic=body.get("statistic", "rate" if body.get("population") else "count"),
        permutations=int(body.get("permutations", settings.safety_permutations)),
        alpha=float(body.get("fdr", settings.safety_fdr)), seed=body.get("seed", 0)))  # fmt: skip
    if body.get("write"):
        await write_hotspots(client, found, tenant=_tenant(request))
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

    def work() -> Any:
        inputs = records_site_inputs(body.get("demand") or [], body.get("candidates") or [],
                                     body.get("existing"))  # fmt: skip
        problem, _ = plan_sites(inputs, radius=float(body.get("radius", 0)), facilities=0)
        ps = body.get("facilities") or list(range(0, int(body.get("max_facilities", 10)) + 1))
        return [asdict(p) for p in coverage_curve(problem, ps, method=body.get("method", "exact"),
                                                  time_limit=settings.safety_time_limit)]  # fmt: skip

    return _json(await _guard(work))


async def allocate(request: Request) -> Response:
    """Share N new cameras across areas by need (crime-proportional shortfall, largest remainder)."""
    from smartseoul.services.safety.budget import allocate_cameras

    body = await _body(request)
    return _json(await _guard(lambda: allocate_cameras(
        int(body.get("cameras", 0)), body.get("crimes") or {}, body.get("existing"))))  # fmt: skip


routes = [
    Route("/site", site, methods=["POST"]),
    Route("/plans/{plan_id}", plan, methods=["GET"]),
    Route("/hotspots", hotspots, methods=["POST"]),
    Route("/curve", curve, methods=["POST"]),
    Route("/allocate", allocate, methods=["POST"]),
]
