"""The ``smartseoul`` command: serve, demo and one group per service."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from smartseoul.config import Settings, settings_problem
from smartseoul.ingest.cli import import_command
from smartseoul.opendata.cli import opendata as opendata_command
from smartseoul.services import service_commands


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["error"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(settings: Settings) -> dict[str, Any]:
    """Structured logs (one JSON object per line) for our loggers and uvicorn's."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"level": settings.log_level.upper()},
            "uvicorn.access": {"level": "WARNING"},
        },
    }


def server_options(func: Any) -> Any:
    func = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                        help="Folder for the SQLite database (default: ./var or SMARTSEOUL_DATA_DIR).")(func)
    func = click.option("--port", type=click.IntRange(0, 65535), default=None,
                        help="Port to listen on (default 1026).")(func)
    func = click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")(func)
    return func


def make_settings(host: str | None, port: int | None, data_dir: Path | None) -> Settings:
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)
    if not settings.is_postgres:  # the SQLite file goes there: say so now, not in a traceback
        try:
            settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise click.ClickException(
                f"cannot use {settings.sqlite_path.parent} for the database: {err.strerror}"
            ) from None
    return settings


def run_server(settings: Settings, *, workers: int = 1, prepare: Any = None) -> None:
    import os

    import uvicorn

    from smartseoul.app import create_app

    log_config = setup_logging(settings)
    if settings.host not in ("127.0.0.1", "localhost", "::1") and settings.auth != "on":
        logging.getLogger("smartseoul").warning(
            "listening on %s with SMARTSEOUL_AUTH=off: ANYONE WHO CAN REACH THIS PORT CAN WRITE "
            "TO THE HUB. Set SMARTSEOUL_AUTH=on and issue keys (smartseoul opendata key issue), "
            "or keep it behind a firewall", settings.host
        )
    common: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_config": log_config,
        "access_log": False, "server_header": False,
    }
    if workers > 1:
        # Worker processes build their own app from the environment: pass the options on.
        os.environ["SMARTSEOUL_DATA_DIR"] = str(settings.data_dir)
        os.environ["SMARTSEOUL_HOST"] = settings.host
        os.environ["SMARTSEOUL_PORT"] = str(settings.port)
        uvicorn.run("smartseoul.app:create_app", factory=True, workers=workers, **common)
    else:
        app = create_app(settings)
        if prepare is not None:  # e.g. the demo's S-DoT simulator joins the app's lifespan
            prepare(app)
        uvicorn.run(app, **common)


class _Commands(click.Group):
    """Every command reads SMARTSEOUL_* settings: a bad one is a usage error, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as err:
            if err.title != Settings.__name__:
                raise
            raise click.UsageError("invalid settings:\n" + settings_problem(err)) from None


@click.group(cls=_Commands,
             help="smartseoul: an open smart-city platform around an NGSI-LD city data hub.")
@click.version_option(package_name="smartseoul")
def main() -> None:
    pass


@main.command(help="Serve the NGSI-LD API under /ngsi-ld/v1 (SQLite by default, PostgreSQL when "
              "SMARTSEOUL_DATABASE_URL=postgresql://... is set).")
@server_options
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes; they share the store (PostgreSQL recommended beyond one).")
def serve(host: str | None, port: int | None, data_dir: Path | None, workers: int) -> None:
    run_server(make_settings(host, port, data_dir), workers=workers)


@main.command(help="Start the platform on SQLite with the demo city of Seoul loaded: 25 gu, air-quality "
              "stations with real daily history, Han River gauges.")
@server_options
@click.option("--han-river", "han_river", type=click.Path(path_type=Path), default=None,
              help="Folder with Han River data_YYYY.csv files (default: ../shared/data/han-river if present).")
@click.option("--simulate-interval", type=click.FloatRange(min=0.5), default=10.0, show_default=True,
              help="Seconds between two reports of each simulated S-DoT sensor.")
@click.option("--sensors-per-gu", type=click.IntRange(1, 200), default=2, show_default=True,
              help="Simulated S-DoT sensors in each of the 25 gu.")
@click.option("--no-simulate", is_flag=True, default=False,
              help="Do not run the simulated S-DoT sensor network.")
def demo(host: str | None, port: int | None, data_dir: Path | None, han_river: Path | None,
         simulate_interval: float = 10.0, sensors_per_gu: int = 2, no_simulate: bool = False) -> None:
    settings = make_settings(host, port, data_dir)
    if settings.is_postgres:
        raise click.UsageError("demo runs on the embedded SQLite store; unset SMARTSEOUL_DATABASE_URL")
    setup_logging(settings)
    from smartseoul.ingest.loader import load_demo_city

    summary = asyncio.run(load_demo_city(settings, han_river_dir=han_river))
    base = settings.public_base_url
    api = f"{base}/ngsi-ld/v1"
    click.echo(
        f"Demo city loaded: {summary['entities']} entities, {summary['history_instances']} history "
        f"instances in {summary['seconds']} s ({settings.sqlite_path})."
    )
    for note in summary["notes"]:
        click.echo(f"  note: {note}")
    link = f'<{summary["context_url"]}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    click.echo(f"\nNGSI-LD API: {api}   (health: {base}/health, metrics: {base}/metrics)")
    click.echo("Try, in another terminal:")
    click.echo(f"  curl '{api}/types'")
    click.echo(f"  curl -G '{api}/entities' -H 'Link: {link}' \\\n"
               "       -d type=AirQualityObserved -d 'q=pm10>40' -d limit=3 -d options=keyValues")
    click.echo(f"  curl -G '{api}/temporal/entities/urn:ngsi-ld:AirQualityObserved:seoul:jongno-gu' "
               f"-H 'Link: {link}' \\\n"
               "       -d attrs=pm10 -d options=aggregatedValues -d aggrMethods=avg,max -d aggrPeriodDuration=P7D")
    prepare: Any = None
    if not no_simulate:
        from functools import partial

        from smartseoul.ingest.simulator import DEFAULT_MQTT_URL, attach_simulator, mqtt_reachable

        candidate = settings.iot_mqtt_url or DEFAULT_MQTT_URL
        mqtt_url = candidate if mqtt_reachable(candidate) else None
        settings = settings.model_copy(update={"iot_mqtt_url": mqtt_url or ""})  # the agent listens there
        how = (f"MQTT ({mqtt_url})" if mqtt_url else
               f"HTTP POST {base}/iot/{{apikey}}/{{device}}/attrs (no MQTT broker at {candidate})")
        click.echo(f"\nS-DoT simulator: {25 * sensors_per_gu} sensors in the 25 gu report every "
                   f"{simulate_interval:g} s over {how}.")
        click.echo(f"  curl -G '{api}/entities' -H 'Link: {link}' \\\n"
                   "       -d type=EnvironmentObserved -d attrs=temperature,LAeq,peopleCount -d limit=3 -d options=keyValues")
        prepare = partial(attach_simulator, interval=simulate_interval, per_gu=sensors_per_gu, mqtt_url=mqtt_url)
    run_server(settings, prepare=prepare)


main.add_command(import_command, name="import")
main.add_command(opendata_command, name="opendata")
for _name, _command in service_commands().items():  # smartseoul flood ... (services/__init__.py)
    main.add_command(_command, name=_name)


if __name__ == "__main__":
    main()
