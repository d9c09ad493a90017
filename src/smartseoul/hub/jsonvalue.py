"""What the hub can store of a JSON value: nesting depth and numbers (pure).

The spec sets no limit on how deeply attribute values or @context documents nest, but the
hub must be able to write back whatever it accepts: orjson, which writes every stored
document and every response, refuses documents nested deeper than 255 levels, and Python's
recursion limit bounds the code that walks values. A body that orjson can read (up to 1,024
levels) could therefore pass validation and then fail the write with a 500. The hub refuses
such values up front as BadRequestData instead, per entity in a batch:

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
"""

from __future__ import annotations

from typing import Any

MAX_NESTING = 64


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
