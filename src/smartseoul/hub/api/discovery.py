"""Discovery routes: /types and /attributes (clauses 5.7.5 to 5.7.10, 6.25 to 6.28).

A ``Prefer: ngsi-ld=X.Y`` header (clause 4.3.6.8) reports attribute types as a client of
that version knows them, and is answered with ``Preference-Applied`` (clause 6.3.6)."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from smartseoul.hub.api.common import read_call, respond
from smartseoul.hub.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from smartseoul.hub.store.base import EntityQuery
from smartseoul.hub.versions import Version, applied_header, downgrade_kinds, preferred


def _details(request: Request) -> bool:
    value = request.query_params.get("details", "false")
    if value not in ("true", "false"):
        raise BadRequestData("details must be true or false")
    return value == "true"


async def _check_tenant(request: Request, tenant: str) -> None:
    if not await request.app.state.store.tenant_exists(tenant):
        raise NonexistentTenant(f"Tenant {tenant!r} does not exist", instance=tenant)


def _version(request: Request) -> tuple[Version | None, dict[str, str] | None]:
    version = preferred(request.headers.get("prefer"))
    return version, None if version is None else applied_header(version)


async def list_types(request: Request) -> Response:
    """Retrieve available entity types (5.7.5) or their details (5.7.6)."""
    call = await read_call(request)
    await _check_tenant(request, call.tenant)
    version, headers = _version(request)
    summary = await request.app.state.store.type_summary(call.tenant)
    if _details(request):
        payload: object = [
            {
                "id": type_iri,
                "type": "EntityType",
                "typeName": call.compact(type_iri),
                "attributeNames": sorted(call.compact(a) for a in attrs if a != "@count"),
            }
            for type_iri, attrs in sorted(summary.items())
        ]
    else:
        payload = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": sorted(call.compact(t) for t in summary),
        }
    return respond(call, payload, headers=headers)


async def type_info(request: Request) -> Response:
    """Retrieve available entity type information (5.7.7, 5.2.26)."""
    call = await read_call(request)
    await _check_tenant(request, call.tenant)
    version, headers = _version(request)
    type_iri = call.expand(request.path_params["type"])
    store = request.app.state.store
    count = 0
    kinds: dict[str, set[str]] = {}
    # One pass over the entities of the type: attribute types as used by this type.
    async for entity in store.iter_entities(call.tenant, EntityQuery(types=type_iri)):
        count += 1
        for name, instances in entity["attrs"].items():
            kinds.setdefault(name, set()).update(i["type"] for i in instances)
    if not count:
        raise ResourceNotFound(
            f"No entity of type {request.path_params['type']} exists", instance=type_iri
        )
    payload = {
        "id": type_iri,
        "type": "EntityTypeInfo",
        "typeName": call.compact(type_iri),
        "entityCount": count,
        "attributeDetails": [
            {
                "id": name,
                "type": "Attribute",
                "attributeName": call.compact(name),
                "attributeTypes": downgrade_kinds(kinds[name], version),
            }
            for name in sorted(kinds)
        ],
    }
    return respond(call, payload, headers=headers)


async def list_attributes(request: Request) -> Response:
    """Retrieve available attributes (5.7.8) or their details (5.7.9)."""
    call = await read_call(request)
    await _check_tenant(request, call.tenant)
    version, headers = _version(request)
    summary = await request.app.state.store.attribute_summary(call.tenant)
    if _details(request):
        payload: object = [
            {
                "id": name,
                "type": "Attribute",
                "attributeName": call.compact(name),
                "typeNames": sorted(call.compact(t) for t in item["types"]),
            }
            for name, item in sorted(summary.items())
        ]
    else:
        payload = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": sorted(call.compact(n) for n in summary),
        }
    return respond(call, payload, headers=headers)


async def attribute_info(request: Request) -> Response:
    """Retrieve available attribute information (5.7.10, 5.2.28)."""
    call = await read_call(request)
    await _check_tenant(request, call.tenant)
    version, headers = _version(request)
    name = call.expand(request.path_params["attr"])
    store = request.app.state.store
    instances = 0
    kinds: set[str] = set()
    types: set[str] = set()
    async for entity in store.iter_entities(call.tenant, EntityQuery(attrs=[name])):
        found = entity["attrs"].get(name, ())
        instances += len(found)
        kinds.update(i["type"] for i in found)
        types.update(entity["type"])
    if not instances:
        raise ResourceNotFound(f"No attribute {request.path_params['attr']} exists", instance=name)
    payload = {
        "id": name,
        "type": "Attribute",
        "attributeName": call.compact(name),
        "attributeCount": instances,  # instances with this name (table 5.2.28-1)
        "attributeTypes": downgrade_kinds(kinds, version),
        "typeNames": sorted(call.compact(t) for t in types),
    }
    return respond(call, payload, headers=headers)


routes = [
    Route("/types", list_types, methods=["GET"]),
    Route("/types/{type:path}", type_info, methods=["GET"]),
    Route("/attributes", list_attributes, methods=["GET"]),
    Route("/attributes/{attr:path}", attribute_info, methods=["GET"]),
]
