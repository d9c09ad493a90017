"""What every SQL module of the store shares: the connection adapter protocol and JSON codecs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson


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


def marks(n: int) -> str:
    return ",".join("?" * n)
