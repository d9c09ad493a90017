"""What the hub can store: nesting depth, numbers and the length of names (pure).

The spec sets none of these limits, but the hub must be able to write back whatever it
accepts, on SQLite and on PostgreSQL alike; a value it cannot write must be a clear 400
BadRequestData up front (per entity in a batch), never a 500 from the write.

Nesting. orjson, which writes every stored document and every response, refuses documents
nested deeper than 255 levels, and Python's recursion limit bounds the code that walks
values, yet orjson reads bodies nested up to 1,024 levels. So the hub refuses:

- an attribute value, a ``lang`` or ``objectType`` member, or an @context nested deeper than
  ``MAX_NESTING`` levels of arrays and objects;
- sub-attributes nested more than ``MAX_NESTING`` levels deep.

That keeps every stored document, and every response or notification that wraps one, well
inside orjson's limit (64 + 64 + a handful of levels of entity, attribute list and
notification around them).

Numbers: NaN, the infinities and integers beyond 64 bits. A JSON body cannot carry one
(orjson refuses them, and reads a longer integer as a float), but an in-process writer
(``LocalHubClient``) can; orjson would store the first two as null and fail the whole write
on the third.

Names. PostgreSQL's B-tree refuses an index entry over 2,704 bytes, and the hub indexes
tenants, entity ids, type and attribute IRIs, scopes, subscription ids and notification
endpoints. The widest entry, ``history (tenant, entity_id, attr, observed_at)``, stays
inside that limit when a tenant takes at most ``MAX_TENANT_BYTES`` of UTF-8 and each of the
others at most ``MAX_NAME_BYTES``. (String values have no limit: the index keeps a prefix
of a long one, see ``hub.store.sqlfilter.indexed_text``.)
"""

from __future__ import annotations

from typing import Any

from smartseoul.hub.errors import BadRequestData

MAX_NESTING = 64
MAX_NAME_BYTES = 1024
MAX_TENANT_BYTES = 256


def too_long(text: str, limit: int = MAX_NAME_BYTES) -> bool:
    """More than ``limit`` bytes of UTF-8 (the common short name is not encoded)."""
    return len(text) > limit // 4 and len(text.encode()) > limit


def check_name_length(text: str, what: str) -> str:
    """``text`` if it fits ``MAX_NAME_BYTES``; BadRequestData naming ``what`` otherwise."""
    if too_long(text):
        raise BadRequestData(f"{what} is longer than {MAX_NAME_BYTES} bytes: {text[:60]}...")
    return text


def check_tenant(name: str) -> str:
    """An ``NGSILD-Tenant`` name the stores can index (clause 4.14 sets no limit)."""
    if too_long(name, MAX_TENANT_BYTES):
        raise BadRequestData(
            f"The tenant name is longer than {MAX_TENANT_BYTES} bytes: {name[:60]}..."
        )
    return name


def value_problem(value: Any, levels: int = MAX_NESTING) -> str | None:
    """Why ``value`` cannot be stored, or None if it can.

    The recursion is bounded by ``levels``, so a value nested 1,000 deep costs at most
    ``levels`` frames. Scalars other than numbers are never walked into.
    """
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    elif isinstance(value, float):  # NaN or an infinity
        return None if value - value == 0.0 else f"a number JSON cannot hold: {value!r}"
    elif isinstance(value, int) and not -(2**63) <= value < 2**64:  # bool fits
        return f"a number JSON cannot hold: {value!r}"
    else:
        return None
    if levels == 0:
        return f"arrays and objects nested more than {MAX_NESTING} levels deep"
    for item in items:
        if not isinstance(item, str):
            problem = value_problem(item, levels - 1)
            if problem is not None:
                return problem
    return None
