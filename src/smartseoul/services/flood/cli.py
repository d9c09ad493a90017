"""``smartseoul flood``: train, evaluate, load and run the flood service."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from smartseoul.config import Settings

__all__ = ["command"]

_paths = click.Path(exists=True, path_type=Path)


def _run(func: Callable[[], Any]) -> Any:
    """Run a step; a bad season or model file becomes one line on stderr and exit status 1."""
    try:
        return func()
    except (ValueError, OSError) as err:  # DatasetError and JSONDecodeError are ValueErrors
        raise click.ClickException(str(err)) from None


@click.group(
    name="flood",
    help="Han River water-level forecasts (10 to 180 minutes ahead) and flood warnings.",
)
def command() -> None:
    pass


@command.command(help="Train the forecasting model on season files or folders and save it with "
                 "its metrics (in-sample) and data span.")  # fmt: skip
@click.argument("paths", nargs=-1, required=True, type=_paths)
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Where to save the model (default: SMARTSEOUL_FLOOD_MODEL_PATH or "
              "DATA_DIR/flood-model.json).")  # fmt: skip
def train(paths: tuple[Path, ...], output: Path | None) -> None:
    from smartseoul.services.flood.files import evaluation_report, read_series, save_model
    from smartseoul.services.flood.service import model_path

    series = _run(lambda: read_series(paths))
    report = _run(lambda: evaluation_report(series, series))
    model = report["model"]
    target = output or model_path(Settings())
    save_model(model, target)
    click.echo(
        f"trained on {len(series)} season(s), {model.info['data_span']['start']} to "
        f"{model.info['data_span']['end']}, in {report['train_seconds']} s; "
        f"in-sample score {report['score']:.3f} (persistence "
        f"{report['baselines']['persistence']['score']:.3f}); saved to {target}"
    )


class _ManyPaths(click.Command):
    """``--train A B --test C D``: each bare path after an option repeats that option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        current: str | None = None
        for arg in args:
            if arg in ("--train", "--test"):
                current = arg
                rewritten.append(arg)
            elif arg.startswith("-"):
                current = None
                rewritten.append(arg)
            elif current is not None and rewritten[-1] == current:
                rewritten.append(arg)
            elif current is not None:
                rewritten += [current, arg]
            else:
                rewritten.append(arg)
        return super().parse_args(ctx, rewritten)


@command.command(cls=_ManyPaths, help="Train on --train and print the skill on --test (model, "
                 "persistence and linear baselines, per gauge and lead time, flood peaks).")  # fmt: skip
@click.option(
    "--train",
    "train_paths",
    multiple=True,
    required=True,
    type=_paths,
    help="Season files or folders to train on (several may follow).",
)
@click.option(
    "--test",
    "test_paths",
    multiple=True,
    required=True,
    type=_paths,
    help="Season files or folders to test on (several may follow).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    default=False,
    help="Print one JSON object on stdout instead of a table.",
)
def evaluate(train_paths: tuple[Path, ...], test_paths: tuple[Path, ...], as_json: bool) -> None:
    from smartseoul.services.flood.files import evaluation_report, read_series

    train, test = _run(lambda: (read_series(train_paths), read_series(test_paths)))
    report = _run(lambda: evaluation_report(train, test))
    report.pop("model")
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    click.echo(_table(report))


def _table(report: dict[str, Any]) -> str:
    rows = ["lead (min)   model score  rmse cm     r2 | persistence score | linear score"]
    for lead, skill in report["lead_times"].items():
        rows.append(
            f"{lead:>10}   {skill['score']:11.3f} {skill['rmse_cm']:8.2f} {skill['r2']:6.4f} | "
            f"{report['baselines']['persistence']['lead_times'][lead]['score']:17.3f} | "
            f"{report['baselines']['linear']['lead_times'][lead]['score']:12.3f}"
        )
    rows.append(
        f"{'all':>10}   {report['score']:11.3f} {report['rmse_cm']:8.2f} {report['r2']:6.4f} | "
        f"{report['baselines']['persistence']['score']:17.3f} | "
        f"{report['baselines']['linear']['score']:12.3f}"
    )
    return "\n".join(rows)


@command.command(help="Load season files into the hub: the four gauges, Paldang dam and the "
                 "Ganghwa tide as WaterObserved entities with their full history.")  # fmt: skip
@click.argument("paths", nargs=-1, required=True, type=_paths)
@click.option("--url", default=None, help="NGSI-LD base URL of the hub (default: the local store).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of the local SQLite store (default: ./var or SMARTSEOUL_DATA_DIR).",
)
def load(paths: tuple[Path, ...], url: str | None, data_dir: Path | None) -> None:
    from smartseoul.ingest.cli import open_hub
    from smartseoul.services.flood.files import read_season, season_paths
    from smartseoul.services.flood.service import load_season

    settings = Settings(data_dir=data_dir) if data_dir else Settings()

    # Every file is read before anything is written: a bad file leaves the hub as it was.
    seasons = _run(lambda: [read_season(path) for path in season_paths(paths)])

    async def work() -> int:
        total = 0
        async with open_hub(settings, url) as (client, _):
            for records in seasons:
                total += await load_season(client, records)
        return total

    click.echo(f"{asyncio.run(work())} history instances written")


@command.command(help="Run the service: subscribe to the hub, forecast on every new reading, "
                 "write WaterLevelForecast and Alert entities; serves /flood routes.")  # fmt: skip
@click.option(
    "--url", required=True, help="NGSI-LD base URL of the hub (http://host:1026/ngsi-ld/v1)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address this service listens on for notifications.",
)
@click.option(
    "--port",
    type=int,
    default=1027,
    show_default=True,
    help="Port this service listens on for notifications.",
)
@click.option(
    "--callback",
    default=None,
    help="Notification URL the hub can reach (default: http://HOST:PORT/flood/notify).",
)
@click.option(
    "--model",
    "model_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Saved model (default: SMARTSEOUL_FLOOD_MODEL_PATH or DATA_DIR/flood-model.json).",
)
@click.option("--tenant", default="", help="NGSI-LD tenant of the gauges and alerts.")
def run(url: str, host: str, port: int, callback: str | None, model_file: Path | None,
        tenant: str) -> None:  # fmt: skip
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from smartseoul.hub.client import HttpHubClient
    from smartseoul.services.flood.files import load_model
    from smartseoul.services.flood.routes import routes
    from smartseoul.services.flood.service import FloodService, flood_config, model_path

    settings = Settings()
    model = _run(lambda: load_model(model_file or model_path(settings)))
    endpoint = callback or f"http://{host}:{port}/flood/notify"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = HttpHubClient(url)
        service = FloodService(client, model, flood_config(settings, tenant=tenant))
        # Subscribe first: a reading written while the service starts is then either in
        # what start() reads or in a notification (the hub retries until this app listens).
        await service.subscribe(endpoint)
        await service.start()
        await service.poll()
        app.state.flood_service, app.state.flood_client = service, client
        click.echo(f"flood service: subscribed to {url}, notifications at {endpoint}", err=True)
        try:
            yield
        finally:
            await service.stop()
            await client.close()

    app = Starlette(routes=[Mount("/flood", routes=routes)], lifespan=lifespan)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
