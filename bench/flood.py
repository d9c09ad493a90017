"""Benchmark of the flood service: training time on one season, forecast latency per reading.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/flood.py                      # ../shared/data/han-river, 2019
    .venv/bin/python bench/flood.py --season PATH/data_2016.csv --readings 2000

Figures, each next to a baseline measured in the same run:

1. seconds to train the model on one season   vs seconds to fit the linear baseline
2. forecast latency per new reading (p50/p95): the service's path (buffer -> inputs of
   the last 150 steps -> 18 lead times at 4 gauges)   vs the persistence forecast on the
   same inputs
3. a reading handled by the service on a real hub (SQLite file, in-process client): the
   notification's entities -> forecast -> alerts advanced -> four WaterLevelForecast
   entities written   vs writing the reading itself into the same hub

Targets (issue 5): training under 120 s; latency under 50 ms per reading.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
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

    rows = list(read_han_river(args.season))
    handled, written = asyncio.run(on_hub(model, rows, min(args.readings, 200)))
    h50, h95 = statistics.median(handled), statistics.quantiles(handled, n=20)[18]
    w50 = statistics.median(written)
    print(
        f"3. reading handled by the service on a SQLite hub: p50 {h50:.2f} ms, p95 {h95:.2f} ms; "
        f"writing the reading p50 {w50:.2f} ms; ratio p50 {h50 / w50:.1f}x"
    )


async def on_hub(model, rows: list, readings: int) -> tuple[list[float], list[float]]:
    """Milliseconds to write each of the last ``readings`` rows, and for the service to
    handle it (what the ``/flood/notify`` receiver does with a notification)."""
    from smartseoul.config import Settings
    from smartseoul.hub.broker import Broker
    from smartseoul.hub.client import LocalHubClient
    from smartseoul.hub.jsonld import ContextResolver
    from smartseoul.hub.store.sqlite import SqliteStore
    from smartseoul.services.flood.service import (
        FLOOD_CONTEXT,
        FloodService,
        flood_config,
        load_season,
        site_entities,
    )

    handled, written = [], []
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder))
        store = SqliteStore(Path(folder) / "hub.db")
        await store.open()
        resolver = ContextResolver(store, settings)
        client = LocalHubClient(Broker(store), resolver)
        try:
            await load_season(client, rows[-readings - HISTORY_STEPS - 20 : -readings])
            service = FloodService(client, model, flood_config(settings))
            await service.start()
            for row in rows[-readings:]:
                entities, _ = site_entities([row])
                started = time.perf_counter()
                await client.upsert(entities, context=FLOOD_CONTEXT)
                between = time.perf_counter()
                await service.handle(entities)
                ended = time.perf_counter()
                written.append((between - started) * 1000)
                handled.append((ended - between) * 1000)
        finally:
            await resolver.close()
            await store.close()
    return handled, written


if __name__ == "__main__":
    main()
