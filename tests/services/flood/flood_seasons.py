"""Real Han River seasons for the flood tests (skipped when the shared data is absent)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from conftest import SHARED_DATA

HAN_RIVER = SHARED_DATA / "han-river"


def season_file(year: int) -> Path:
    path = HAN_RIVER / f"data_{year}.csv"
    if not path.is_file():
        pytest.skip(f"Han River season {year} not found at {path} (../shared/data is not shipped)")
    return path


@cache
def _records(year: int) -> list:
    from smartseoul.datasets.han_river import read_han_river

    return list(read_han_river(season_file(year)))


def records(year: int) -> list:
    """Every row of a season (read once per test session)."""
    season_file(year)
    return _records(year)
