"""What every SQL module of the store shares: the connection adapter protocol and JSON codecs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from smartseoul.hub.errors import TooComplexQuery

# PostgreSQL takes at most 65,535 parameters in a statement, SQLite 32,766 in its default
# build. A query naming 70,000 attributes or q values used to fail with a 500 there.
MAX_PARAMS = 30_000


class Conn(Protocol):
    """What a backend adapter gives the shared code: ``?`` placeholders everywhere."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value  # psycopg already decoded jsonb


def check_params(params: Sequence[Any]) -> None:
    """Every read passes here: one needing more parameters than a statement takes is
    TooComplexQuery (403), on both backends alike."""
    if len(params) > MAX_PARAMS:
        raise TooComplexQuery(
            f"The query needs {len(params)} values, more than the {MAX_PARAMS} a statement "
            "takes: use fewer ids, attribute names, types, datasetIds or q values"
        )


def marks(n: int) -> str:
    return ",".join("?" * n)
