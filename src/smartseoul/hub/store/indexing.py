"""Index rows derived from a stored entity: shared by both store backends.

The row convention is the one ``hub.store.base`` documents for ``attr_index`` and the
geometry index; ``hub.store.sqlfilter`` relies on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smartseoul.hub.entities import NGSI_NULL, VALUE_KEY


def index_rows(entity: dict[str, Any]) -> list[tuple[str, float | None, str | None]]:
    """``(name, num, str)`` rows for one entity: types, scopes, then attribute instances."""
    rows: list[tuple[str, float | None, str | None]] = [("@type", None, t) for t in entity["type"]]
    rows.extend(("@scope", None, s) for s in entity.get("scope", ()))
    for name, instances in entity["attrs"].items():
        for inst in instances:
            num, text = scalar_of(inst)
            rows.append((name, num, text))
    return rows


def scalar_of(inst: dict[str, Any]) -> tuple[float | None, str | None]:
    """The indexable scalar of an instance: a number in ``num``, anything else scalar in ``str``."""
    value = inst.get(VALUE_KEY.get(inst.get("type", "Property"), "value"))
    if value is None or value == NGSI_NULL:
        return None, None
    if isinstance(value, bool):
        return None, "true" if value else "false"
    if isinstance(value, int | float):
        return float(value), None
    if isinstance(value, str):
        return None, value
    return None, None


def geo_rows(entity: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    """``(name, minx, miny, maxx, maxy)`` for every GeoProperty instance of the entity."""
    rows = []
    for name, instances in entity["attrs"].items():
        for inst in instances:
            if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
                box = geometry_bbox(inst["value"])
                if box is not None:
                    rows.append((name, *box))
    return rows


def geometry_bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for x, y in _positions(geometry):
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _positions(geometry: dict[str, Any]) -> Iterator[tuple[float, float]]:
    if geometry.get("type") == "GeometryCollection":
        for part in geometry.get("geometries", ()):
            yield from _positions(part)
        return
    stack: list[Any] = [geometry.get("coordinates")]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], int | float):
            yield float(item[0]), float(item[1])
        elif isinstance(item, list):
            stack.extend(item)
