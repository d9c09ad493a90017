"""Read-only streaming of hub history for downloads: constant memory at any size.

The hub's ``query_history`` returns a whole answer as a list; a download of millions of
instances must not. This module pages through the ``history`` table of one entity
attribute at a time with keyset pagination on ``(observed_at, instance_id)``, which
follows the ``history_observed`` index, through the store's public ``read()`` context.
It only ever runs SELECT statements.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

# Rows a page: 2,000 keep a download's working set near 2 MB at the speed of larger pages.
PAGE = 2000
Instance = tuple[float, Any, Any]  # (observed_at epoch seconds, value, unitCode or None)

_VALUE_KEYS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")


def _unit_sql(dialect: str) -> str:
    if dialect == "postgres":
        return "data->>'unitCode'"
    return "json_extract(data, '$.unitCode')"


def _where(start: float | None, end: float | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if start is not None:
        sql += " AND observed_at >= ?"
        params.append(start)
    if end is not None:
        sql += " AND observed_at < ?"
        params.append(end)
    return sql, params


async def count_history(
    store: Any,
    tenant: str,
    entity_ids: list[str],
    attrs: list[str],
    *,
    start: float | None,
    end: float | None,
) -> dict[tuple[str, str], int]:
    """Instances per ``(entity id, attribute IRI)`` in ``[start, end)`` (deleted ones left out)."""
    out: dict[tuple[str, str], int] = {}
    window, params = _where(start, end)
    for i in range(0, len(entity_ids), 200):
        part = entity_ids[i : i + 200]
        sql = (
            "SELECT entity_id, attr, count(*) FROM history WHERE tenant=? "
            f"AND entity_id IN ({','.join('?' * len(part))}) "
            f"AND attr IN ({','.join('?' * len(attrs))}) AND observed_at IS NOT NULL "
            f"AND NOT deleted{window} GROUP BY entity_id, attr"
        )
        async with store.scan() as conn:  # a count walks every instance: off the loop
            rows = await conn.fetchall(sql, [tenant, *part, *attrs, *params])
        for entity_id, attr, n in rows:
            out[(entity_id, attr)] = int(n)
    return out


async def history_pages(
    store: Any,
    tenant: str,
    entity_id: str,
    attr: str,
    *,
    start: float | None,
    end: float | None,
    offset: int = 0,
    page: int = PAGE,
) -> AsyncIterator[list[Instance]]:
    """Pages of ``(observed_at, value, unitCode)`` of one attribute, oldest first.

    ``value`` is the instance's number when it has one, otherwise its value member decoded
    from the stored JSON (a string, a boolean, a language map, a geometry ...).
    """
    window, params = _where(start, end)
    base = (
        f"SELECT observed_at, instance_id, num, CASE WHEN num IS NULL THEN data END, "
        f"{_unit_sql(store.dialect)} FROM history WHERE tenant=? AND entity_id=? AND attr=? "
        f"AND observed_at IS NOT NULL AND NOT deleted{window}"
    )
    head = [tenant, entity_id, attr, *params]
    after: tuple[float, str] | None = None
    while True:
        if after is None:
            sql = base + " ORDER BY observed_at, instance_id LIMIT ? OFFSET ?"
            args = [*head, page, offset]
        else:
            sql = base + (
                " AND (observed_at > ? OR (observed_at = ? AND instance_id > ?))"
                " ORDER BY observed_at, instance_id LIMIT ?"
            )
            args = [*head, after[0], after[0], after[1], page]
        async with store.read() as conn:
            rows = await conn.fetchall(sql, args)
        if not rows:
            return
        yield [
            (t, num if data is None else _value(data), unit)
            for t, _i, num, data, unit in rows
        ]
        if len(rows) < page:
            return
        last = rows[-1]
        after = (last[0], last[1])


def _value(data: Any) -> Any:
    instance = orjson.loads(data) if isinstance(data, str | bytes) else data
    for key in _VALUE_KEYS:
        if key in instance:
            value = instance[key]
            return None if value == "urn:ngsi-ld:null" else value
    return None
