"""Benchmark of the flood service: training time on one season, forecast latency per reading.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/flood.py                      # ../shared/data/han-river, 2019
    .venv/bin/python bench/flood.py --season PATH/data_2016.csv --readings 2000

Figures, each next to a baseline measured in the same run:

1. seconds to train the model on one season   vs seconds to fit the linear baseline
2. forecast latency per new reading (p50/p95): the service's path (buffer -> inputs of
   the last 150 steps -> 18 lead times at 4 gauges)   vs the persistence forecast on the
   same inputs

Targets (issue 5): training under 120 s; latency under 50 ms per reading.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from smartseoul.datasets.han_river import read_han_river
from smartseoul.services.flood.model import (
    HISTORY_STEPS,
    Persistence,
    fit_flood_model,
    fit_linear_baseline,
    series_from_records,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEASON = ROOT.parent / "shared" / "data" / "han-river" / "data_2019.csv"


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def latencies(forecast, series, readings: int) -> list[float]:
    """Milliseconds per reading: the last HISTORY_STEPS + 1 steps up to each reading."""
    out = []
    for end in range(len(series) - readings, len(series)):
        window = series.tail(len(series) - end + HISTORY_STEPS + 1)
        window = type(series)(
            window.start,
            window.level[: HISTORY_STEPS + 1],
            window.discharge[: HISTORY_STEPS + 1],
            window.inflow[: HISTORY_STEPS + 1],
            window.tide[: HISTORY_STEPS + 1],
        )
        started = time.perf_counter()
        forecast(window)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--season", type=Path, default=DEFAULT_SEASON)
    parser.add_argument("--readings", type=int, default=1000)
    args = parser.parse_args()
    series = series_from_records(read_han_river(args.season))
    print(f"season {args.season.name}: {len(series)} steps")

    train_s, model = timed(lambda: fit_flood_model([series]))
    linear_s, _ = timed(lambda: fit_linear_baseline([series]))
    print(
        f"1. training on one season: {train_s:.2f} s (target < 120 s); linear baseline "
        f"{linear_s:.2f} s; ratio {train_s / linear_s:.1f}x"
    )

    persistence = Persistence()
    ours = latencies(model.forecast_latest, series, args.readings)  # type: ignore[attr-defined]
    base = latencies(lambda s: persistence.predict(s)[-1], series, args.readings)
    p50, p95 = statistics.median(ours), statistics.quantiles(ours, n=20)[18]
    b50, b95 = statistics.median(base), statistics.quantiles(base, n=20)[18]
    print(
        f"2. forecast per reading: p50 {p50:.2f} ms, p95 {p95:.2f} ms (target < 50 ms); "
        f"persistence p50 {b50:.3f} ms, p95 {b95:.3f} ms; ratio p50 {p50 / b50:.0f}x"
    )


if __name__ == "__main__":
    main()
