"""Index rows derived from a stored entity, shared by both store backends.

``attr_index`` rows come from ``sqlfilter.index_rows``, next to the SQL that reads them;
this module adds the geometry bounding boxes and the number kept with each history row.
"""

from __future__ import annotations

from typing import Any

from smartseoul.hub.entities import NGSI_NULL, VALUE_KEY
from smartseoul.hub.geo import geometry_bbox
from smartseoul.hub.store.sqlfilter import index_rows

__all__ = ["geo_rows", "index_rows", "scalar_of"]


def scalar_of(inst: dict[str, Any]) -> tuple[float | None, str | None]:
    """The instance's value as ``(number, text)``: history keeps the number for aggregation."""
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
