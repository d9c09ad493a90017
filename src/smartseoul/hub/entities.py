"""Entity and attribute rules: validation and normalisation into the stored form (pure).

Input may use the normalized (clause 4.5.2.2) or concise (clause 4.5.2.3) representation;
everything is turned into the stored form described in ``hub.store.base``. Rendering
back to normalized, concise or simplified (keyValues) output lives in ``hub.render``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from smartseoul.hub.errors import BadRequestData
from smartseoul.hub.geo import COORDINATE_DEPTH, coordinates_problem
from smartseoul.hub.limits import MAX_NAME_BYTES, MAX_NESTING, check_name_length, value_problem

Expand = Callable[[str], str]

# Names of at most this many characters fit MAX_NAME_BYTES whatever they hold: the write
# path tests this before it calls check_name_length.
SHORT_NAME = MAX_NAME_BYTES // 4

NGSI = "https://uri.etsi.org/ngsi-ld/"
LOCATION = NGSI + "location"
OBSERVATION_SPACE = NGSI + "observationSpace"
OPERATION_SPACE = NGSI + "operationSpace"
GEO_ATTRS = frozenset({LOCATION, OBSERVATION_SPACE, OPERATION_SPACE})

# The member that carries an attribute's value, per attribute type (clause 4.5).
VALUE_KEY = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
ATTR_TYPES = frozenset(VALUE_KEY)
# Concise input: the attribute type is inferred from the value member present (clause 4.5.x.3).
KEY_TO_TYPE = {
    "object": "Relationship",
    "languageMap": "LanguageProperty",
    "vocab": "VocabProperty",
    "json": "JsonProperty",
    "valueList": "ListProperty",
    "objectList": "ListRelationship",
    "value": "Property",
}
GEOJSON_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
# Members of an attribute that are not sub-attributes (clauses 4.5.2.2, 4.5.3.2, 4.22).
MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "languageMap",
        "vocab",
        "json",
        "valueList",
        "objectList",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "objectType",
        "valueType",
        "expiresAt",
        "lang",
        "previousValue",
        "previousObject",
        "previousLanguageMap",
        "previousVocab",
        "previousJson",
        "previousValueList",
        "previousObjectList",
    }
)
SYSTEM_MEMBERS = ("createdAt", "modifiedAt", "deletedAt", "instanceId")
ENTITY_MEMBERS = frozenset(
    {"id", "type", "scope", "@context", "createdAt", "modifiedAt", "deletedAt", "expiresAt"}
)
# The NGSI-LD Null for merge patch (clause 4.5.0 / 3.1).
NGSI_NULL = "urn:ngsi-ld:null"

# Clause 4.6.2: characters not allowed in names.
_BAD_NAME = re.compile(r"[<>\"'=()\s;&?/#%\\\[\]{}|^`]")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$")


def now_iso() -> str:
    """The current time as the hub writes it: UTC, microseconds, ``Z``."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    """UTC with microseconds and ``Z``; the year has four digits (strftime's ``%Y`` gives
    ``1`` for the year 1 on Linux)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str, *, field: str = "DateTime") -> datetime:
    """Parse an ISO 8601 DateTime (clause 4.6.3); naive times are taken as UTC."""
    if not isinstance(text, str) or not _DATETIME.match(text):
        raise BadRequestData(f"{field} must be an ISO 8601 DateTime, got {text!r}")
    try:
        return _parse_time(text)
    except ValueError as exc:
        raise BadRequestData(f"{field} is not a valid DateTime: {text!r}") from exc


# A batch of readings repeats the same few observedAt strings: parse each once.
@functools.lru_cache(maxsize=4096)
def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch(text: str) -> float:
    return parse_time(text).timestamp()


def is_uri(value: Any) -> bool:
    return isinstance(value, str) and bool(_URI.match(value))


def check_entity_id(value: Any) -> str:
    if not is_uri(value):
        raise BadRequestData(f"Entity id must be a URI, got {value!r}")
    return value if len(value) <= SHORT_NAME else check_name_length(value, "The entity id")


def check_name(name: str, *, what: str = "attribute") -> None:
    if not name or _BAD_NAME.search(name) and "://" not in name and not name.startswith("urn:"):
        raise BadRequestData(f"Invalid {what} name {name!r} (clause 4.6.2)")
    if name[0] == "@":
        _keyword(name, what)


def _keyword(name: str, what: str) -> None:
    """A JSON-LD keyword (``@id``, ``@value``...) names no attribute: stored as one, it
    came back compacted to ``id``, ``value``..., over the entity's own members."""
    raise BadRequestData(
        f"Invalid {what} name {name!r}: names starting with @ are JSON-LD keywords (clause 4.6.2)"
    )


def expand_types(value: Any, expand: Expand) -> list[str]:
    """Entity type member: a name or a non-empty array of names (clause 4.16)."""
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise BadRequestData(f"Entity type must be a string or an array of strings, got {value!r}")
    out: list[str] = []
    for name in names:
        check_name(name, what="type")
        iri = expand(name)
        if len(iri) > SHORT_NAME:
            check_name_length(iri, "The entity type")
        if iri not in out:
            out.append(iri)
    return out


def check_scopes(value: Any) -> list[str]:
    """Scopes are strings like ``/Seoul/Jongno`` (clause 4.18)."""
    scopes = value if isinstance(value, list) else [value]
    for scope in scopes:
        if not isinstance(scope, str) or not re.fullmatch(r"(/[^/#+\s]+)+", scope):
            raise BadRequestData(f"Invalid scope {scope!r} (clause 4.18)")
        check_name_length(scope, "A scope")
    return list(dict.fromkeys(scopes))


def normalize_entity(
    body: Any, expand: Expand, *, now: str, require_type: bool = True, require_id: bool = True
) -> dict[str, Any]:
    """Validate an entity body and return it in stored form (without system times on the entity).

    Raises BadRequestData naming the offending member.
    """
    if not isinstance(body, dict):
        raise BadRequestData("The entity must be a JSON object")
    entity: dict[str, Any] = {}
    if require_id or "id" in body:
        if "id" not in body:
            raise BadRequestData("The entity has no id")
        entity["id"] = check_entity_id(body["id"])
    if "type" in body:
        entity["type"] = expand_types(body["type"], expand)
    elif require_type:
        raise BadRequestData("The entity has no type")
    if "scope" in body:
        entity["scope"] = check_scopes(body["scope"])
    if "expiresAt" in body:
        entity["expiresAt"] = check_expiry(body["expiresAt"])
    entity["attrs"] = normalize_attrs(body, expand, now=now)
    return entity


def check_expiry(value: Any) -> str:
    """An ``expiresAt`` (clause 4.22): a DateTime, kept as written."""
    parse_time(value, field="expiresAt")
    return str(value)


def normalize_attrs(
    body: dict[str, Any], expand: Expand, *, now: str, allow_null: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Every non-reserved member of ``body`` as attribute instances, keyed by expanded name."""
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name, raw in body.items():
        if name in ENTITY_MEMBERS:
            continue
        check_name(name)
        iri = expand(name)
        if iri[0] == "@":  # a term the @context maps to a keyword
            _keyword(name, "attribute")
        attrs[iri] = normalize_attribute(iri, raw, expand, now=now, allow_null=allow_null)
    return attrs


def normalize_attribute(
    iri: str, raw: Any, expand: Expand, *, now: str, allow_null: bool = False
) -> list[dict[str, Any]]:
    """One attribute (possibly multi-instance) as a list of stored instances."""
    if isinstance(raw, list) and raw and all(_looks_like_instance(x) for x in raw):
        instances = [
            normalize_instance(iri, x, expand, now=now, allow_null=allow_null) for x in raw
        ]
        seen: set[str | None] = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise BadRequestData(
                    f"Attribute {iri} has two instances with datasetId {ds!r} (clause 4.5.5)"
                )
            seen.add(ds)
        return instances
    return [normalize_instance(iri, raw, expand, now=now, allow_null=allow_null)]


def _looks_like_instance(item: Any) -> bool:
    return isinstance(item, dict) and (
        item.get("type") in ATTR_TYPES or "datasetId" in item or any(k in item for k in KEY_TO_TYPE)
    )


def infer_type(raw: Any) -> str:
    if isinstance(raw, dict):
        kind = raw.get("type")
        if isinstance(kind, str) and kind in ATTR_TYPES:
            return kind
        if kind in GEOJSON_TYPES and "coordinates" in raw or kind == "GeometryCollection":
            return "GeoProperty"
        if kind is not None and kind not in GEOJSON_TYPES:
            raise BadRequestData(f"Unknown attribute type {kind!r}")
        for key, name in KEY_TO_TYPE.items():
            if key in raw:
                if name == "Property" and is_geometry(raw.get("value")):
                    return "GeoProperty"
                return name
    return "Property"


def is_geometry(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") in GEOJSON_TYPES
        and ("coordinates" in value or "geometries" in value)
    )


def normalize_instance(
    iri: str, raw: Any, expand: Expand, *, now: str, allow_null: bool = False, level: int = 0
) -> dict[str, Any]:
    """One attribute instance in stored form; concise input is made normalized.

    ``level`` is 0 for an attribute, 1 for its sub-attributes, and so on.
    """
    if not level and len(iri) > SHORT_NAME:  # sub-attribute names are not indexed
        check_name_length(iri, "The attribute name")
    if raw is None or raw == NGSI_NULL:
        if allow_null:
            return {"type": "Property", "value": NGSI_NULL}
        raise BadRequestData(f"Attribute {iri} has a null value")
    concise_value = (
        not isinstance(raw, dict)
        or is_geometry(raw)
        or ("type" not in raw and not any(k in raw for k in KEY_TO_TYPE))
    )
    if concise_value:
        kind = "GeoProperty" if is_geometry(raw) else "Property"
        if iri in GEO_ATTRS and kind != "GeoProperty":
            raise BadRequestData(f"Attribute {iri} must be a GeoProperty with a GeoJSON geometry")
        if not allow_null and isinstance(raw, dict) and NGSI_NULL in raw.values():
            raise BadRequestData(f"Attribute {iri} has an NGSI-LD Null inside its value")
        # The same value rules as the normalized form: concise geometries used to skip them.
        value = _check_value(iri, kind, raw, expand)
        return {"type": kind, "value": value, "createdAt": now, "modifiedAt": now}
    kind = infer_type(raw)
    key = VALUE_KEY[kind]
    if key not in raw:
        raise BadRequestData(f"Attribute {iri} of type {kind} has no {key!r} member")
    value = raw[key]
    inst: dict[str, Any] = {"type": kind}
    if value is None or value == NGSI_NULL or _null_encoding(kind, value):
        if not allow_null:
            raise BadRequestData(f"Attribute {iri} has a null {key}")
        inst[key] = NGSI_NULL
    else:
        inst[key] = _check_value(iri, kind, value, expand)
        if (
            not allow_null
            and kind == "Property"
            and isinstance(value, dict)
            and NGSI_NULL in value.values()
        ):
            # Clause 5.5.4: a Null inside a value object only in merge fragments.
            raise BadRequestData(f"Attribute {iri} has an NGSI-LD Null inside its {key}")
    if iri in GEO_ATTRS and kind != "GeoProperty" and inst[key] != NGSI_NULL:
        raise BadRequestData(f"Attribute {iri} must be a GeoProperty")
    for member, item in raw.items():
        if member in ("type", key, "createdAt", "modifiedAt", "deletedAt", "instanceId"):
            continue
        if member == "observedAt":
            parse_time(item, field=f"{iri} observedAt")
            inst["observedAt"] = item
        elif member == "datasetId":
            if level:
                raise BadRequestData("A sub-attribute cannot have a datasetId")
            if item == "@none":  # the default instance (clause 4.5.5)
                continue
            if not is_uri(item):
                raise BadRequestData(f"datasetId of {iri} must be a URI, got {item!r}")
            inst["datasetId"] = item
        elif member == "unitCode":
            if not isinstance(item, str):
                raise BadRequestData(f"unitCode of {iri} must be a string")
            inst["unitCode"] = item
        elif member in ("objectType", "valueType"):
            _check_storable(iri, member, item)
            inst[member] = _expand_objtype(item, expand)
        elif member == "expiresAt":
            inst[member] = check_expiry(item)
        elif member == "lang":
            _check_storable(iri, member, item)
            inst[member] = item
        elif member in MEMBERS or kind == "JsonProperty" and member == "json":
            continue
        else:
            check_name(member)
            if level == MAX_NESTING:
                raise BadRequestData(
                    f"Attribute {iri} has sub-attributes nested more than {MAX_NESTING} levels deep"
                )
            sub_iri = expand(member)
            if sub_iri[0] == "@":
                _keyword(member, "sub-attribute")
            inst[sub_iri] = normalize_instance(
                sub_iri, item, expand, now=now, allow_null=allow_null, level=level + 1
            )
    inst["createdAt"] = now
    inst["modifiedAt"] = now
    return inst


def _null_encoding(kind: str, value: Any) -> bool:
    """NGSI-LD Null of list and language attributes (clauses 4.5.18.2, 4.5.21.2, 4.5.22.2)."""
    if kind in ("ListProperty", "ListRelationship"):
        return (
            isinstance(value, list)
            and len(value) == 1
            and value[0] in (NGSI_NULL, {"object": NGSI_NULL})
        )
    if kind == "LanguageProperty":
        return value == {"@none": NGSI_NULL}
    return False


def _expand_objtype(item: Any, expand: Expand) -> Any:
    if isinstance(item, str):
        return expand(item)
    if isinstance(item, list):
        return [expand(x) if isinstance(x, str) else x for x in item]
    return item


def _check_value(iri: str, kind: str, value: Any, expand: Expand) -> Any:
    """Per-type value rules (clauses 4.5.2 to 4.5.24, 4.7)."""
    if kind == "GeoProperty":
        if not is_geometry(value):
            raise BadRequestData(f"GeoProperty {iri} must hold a GeoJSON geometry, got {value!r}")
        if not _check_coordinates(iri, value):
            _check_storable(iri, "value", value)  # a GeometryCollection
        elif len(value) > 2:  # members beside type and coordinates (bbox, ...)
            _check_storable(iri, "value", [v for k, v in value.items() if k != "coordinates"])
        return value
    if kind == "Relationship":
        objects = value if isinstance(value, list) else [value]
        if not objects or not all(is_uri(o) for o in objects):
            raise BadRequestData(f"Relationship {iri} object must be a URI, got {value!r}")
        return value
    if kind == "ListRelationship":
        if not isinstance(value, list):
            raise BadRequestData(f"ListRelationship {iri} objectList must be an array")
        out = []
        for item in value:
            obj = item.get("object") if isinstance(item, dict) else item
            if not is_uri(obj):
                raise BadRequestData(f"ListRelationship {iri} holds a non-URI object {item!r}")
            out.append({"object": obj})
        return out
    if kind == "LanguageProperty":
        if not isinstance(value, dict) or not all(
            isinstance(k, str)
            and (isinstance(v, str) or (isinstance(v, list) and all(isinstance(s, str) for s in v)))
            for k, v in value.items()
        ):
            raise BadRequestData(
                f"LanguageProperty {iri} languageMap must map language tags to strings"
            )
        return value
    if kind == "VocabProperty":
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(x, str) for x in items):
            raise BadRequestData(
                f"VocabProperty {iri} vocab must be a string or an array of strings"
            )
        iris = [check_name_length(expand(x), f"A vocab IRI of {iri}") for x in items]
        return iris if isinstance(value, list) else iris[0]
    if kind == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData(f"ListProperty {iri} valueList must be an array")
        _check_storable(iri, "valueList", value)
        return value
    # Every Property value comes here: the common scalars are passed inline, without a call.
    if not (
        isinstance(value, str)
        or (isinstance(value, float) and value - value == 0.0)
        or (isinstance(value, int) and -(2**63) <= value < 2**64)
    ):
        _check_storable(iri, VALUE_KEY[kind], value)
    return value


def _check_storable(iri: str, member: str, value: Any) -> None:
    """Nesting and numbers the hub can write back (see ``hub.limits``)."""
    if isinstance(value, str):
        return
    problem = value_problem(value)
    if problem is not None:
        raise BadRequestData(f"Attribute {iri} has in its {member} {problem}")


def _check_coordinates(iri: str, geometry: dict[str, Any]) -> bool:
    """Refuse coordinates that are not GeoJSON positions of their geometry (the rules of query
    geometries). False for a geometry without coordinates of a fixed depth (GeometryCollection)."""
    kind = geometry["type"]
    depth = COORDINATE_DEPTH.get(kind)
    if depth is None:
        return False
    problem = coordinates_problem(geometry.get("coordinates"), depth, kind)
    if problem is not None:
        raise BadRequestData(f"GeoProperty {iri} has invalid {kind} coordinates: {problem}")
    return True


def instance_key(instance: dict[str, Any]) -> str | None:
    return instance.get("datasetId")


def primary_value(instance: dict[str, Any]) -> Any:
    """The value member of an instance, whatever its attribute type."""
    return instance.get(VALUE_KEY.get(instance.get("type", "Property"), "value"))
