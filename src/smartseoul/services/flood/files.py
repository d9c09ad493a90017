"""Flood data and models on disk: season files to series, saved models, evaluation runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartseoul.datasets import DatasetError
from smartseoul.datasets.han_river import HanRiverRecord, read_han_river, season_files
from smartseoul.services.flood.metrics import evaluate
from smartseoul.services.flood.model import (
    FloodModel,
    Persistence,
    RiverSeries,
    fit_flood_model,
    fit_linear_baseline,
    series_from_records,
)

__all__ = [
    "evaluation_report",
    "load_model",
    "read_season",
    "read_series",
    "save_model",
    "season_paths",
]


def season_paths(paths: Iterable[Path | str]) -> list[Path]:
    """Season files named directly or found (``data_YYYY.csv``) in folders, in order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            seasons = list(season_files(path).values())
            if not seasons:
                raise DatasetError(f"{path}: no data_YYYY.csv season files")
            found += seasons
        elif path.is_file():
            found.append(path)
        else:
            raise DatasetError(f"{path}: no such file or folder")
    return found


def read_season(path: Path | str) -> list[HanRiverRecord]:
    """The rows of one season file; a file without any is an error naming it."""
    records = list(read_han_river(path))
    if not records:
        raise DatasetError(f"{path}: no records")
    return records


def read_series(paths: Iterable[Path | str]) -> list[RiverSeries]:
    """One :class:`RiverSeries` per season file."""
    found = []
    for path in season_paths(paths):
        try:
            found.append(series_from_records(read_season(path)))
        except DatasetError:
            raise
        except ValueError as err:
            raise DatasetError(f"{path}: {err}") from None
    return found


def save_model(model: FloodModel, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model.to_dict()), encoding="utf-8")


def load_model(path: Path) -> FloodModel:
    if not path.is_file():
        raise FileNotFoundError(f"no flood model at {path}: run `smartseoul flood train` first")
    try:
        return FloodModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{path}: not a flood model saved by `smartseoul flood train` "
            f"({type(err).__name__}: {err})"
        ) from None


def evaluation_report(train: list[RiverSeries], test: list[RiverSeries]) -> dict[str, Any]:
    """Train the model and the linear baseline on ``train``; score all three on ``test``.

    The result is the JSON of ``smartseoul flood evaluate``: the model's metrics at the top
    level, the baselines' under ``baselines``, the fitted model under ``model`` (not
    printed) and training time in seconds under ``train_seconds``.
    """
    started = time.perf_counter()
    model = fit_flood_model(train)
    seconds = time.perf_counter() - started
    persistence = Persistence()
    report = evaluate(model, test, reference=persistence)
    report["baselines"] = {
        "persistence": evaluate(persistence, test, reference=model),
        "linear": evaluate(fit_linear_baseline(train), test, reference=model),
    }
    report["train_seconds"] = round(seconds, 2)
    model.info["metrics"] = {k: v for k, v in report.items() if k != "events"}
    report["model"] = model
    return report
