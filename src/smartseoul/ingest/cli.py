"""``smartseoul import FILE --mapping MAPPING``: bulk import of CSV and Excel files.

The hub is the local SQLite store of the data dir (as ``smartseoul demo`` uses) unless
``--url`` names a running hub. Progress goes to stderr; the summary to stdout.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click

from smartseoul.config import Settings
from smartseoul.datasets import DatasetError
from smartseoul.hub.client import HttpHubClient, HubClient, LocalHubClient
from smartseoul.ingest.bulk_import import count_rows
from smartseoul.ingest.import_run import ImportReport, run_import
from smartseoul.ingest.mapping import ImportMapping, MappingError, builtin_mappings, load_mapping

__all__ = ["import_command", "open_hub"]

ERRORS_SHOWN = 20


@asynccontextmanager
async def open_hub(settings: Settings, url: str | None) -> AsyncIterator[tuple[HubClient, str]]:
    """A hub client and a name for the hub (for the checkpoint): ``url`` or the local store."""
    if url:
        client = HttpHubClient(url)
        try:
            yield client, url.rstrip("/")
        finally:
            await client.close()
        return
    from smartseoul.app import make_store
    from smartseoul.hub.broker import Broker
    from smartseoul.hub.jsonld import ContextResolver

    store = make_store(settings)
    await store.open()
    resolver = ContextResolver(store, settings)
    try:
        target = settings.database_url if settings.is_postgres else str(settings.sqlite_path)
        yield LocalHubClient(Broker(store), resolver), target
    finally:
        await resolver.close()
        await store.close()


async def _run(
    settings: Settings,
    url: str | None,
    path: Path,
    mapping: ImportMapping,
    options: dict[str, Any],
) -> tuple[ImportReport, int]:
    """The import's report and the rows this run went through."""
    total = count_rows(path, mapping)
    bar = click.progressbar(
        length=total or 0,
        label=f"importing {path.name}",
        file=sys.stderr,
        show_pos=True,
        item_show_func=lambda text: text,
    )
    started = time.perf_counter()
    rows_done = 0

    def progress(rows: int, report: ImportReport) -> None:
        nonlocal rows_done
        rows_done += rows
        rate = rows_done / max(time.perf_counter() - started, 1e-9)
        bar.update(rows, f"{rate:,.0f} rows/s, {report.written:,} instances")

    async with open_hub(settings, url) as (client, target):
        with bar:
            report = await run_import(
                client,
                path,
                mapping,
                state_dir=settings.data_dir,
                target=target,
                on_progress=progress,
                **options,
            )
    return report, rows_done


def _summary(report: ImportReport, rows: int, seconds: float) -> None:
    rate = rows / seconds if seconds else 0.0
    if report.resumed_from:
        click.echo(f"Resumed after row {report.resumed_from}.")
    click.echo(
        f"{report.rows:,} rows: {report.entities:,} entities created, {report.written:,} "
        f"instances written, {report.replaced:,} replaced, {report.unchanged:,} already there; "
        f"{report.error_count:,} rows with errors; this run {rows:,} rows in {seconds:.1f} s "
        f"({rate:,.0f} rows/s)."
    )
    for error in report.errors[:ERRORS_SHOWN]:
        click.echo(f"  {error}", err=True)
    if report.error_count > ERRORS_SHOWN:
        click.echo(f"  ... {report.error_count - ERRORS_SHOWN} more", err=True)
    if not report.complete:
        click.echo(f"Stopped after row {report.last_row}; run the same command again to resume.")


@click.command(
    "import",
    help="Import a CSV or Excel file into the hub as entities with history, as a mapping says "
    "(a file, or a shipped mapping: " + ", ".join(builtin_mappings()) + "). Re-running is "
    "harmless; an interrupted import resumes where it stopped.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping_name",
    required=True,
    help="Mapping file (.yaml or .json) or the name of a shipped mapping.",
)
@click.option(
    "--url",
    default=None,
    help="A running hub, http://host:port/ngsi-ld/v1 (default: the local store).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of the SQLite database and the import checkpoints.",
)
@click.option(
    "--encoding",
    default=None,
    help="Text encoding of the file (default: UTF-8 or cp949/EUC-KR, detected).",
)
@click.option("--tenant", default="", help="NGSI-LD tenant to write to (default: none).")
@click.option(
    "--batch",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Rows written per hub call and checkpoint.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Stop after this many rows (the next run resumes there).",
)
@click.option(
    "--restart", is_flag=True, help="Ignore the checkpoint and go through the whole file again."
)
def import_command(
    file: Path,
    mapping_name: str,
    url: str | None,
    data_dir: Path | None,
    encoding: str | None,
    tenant: str,
    batch: int,
    limit: int | None,
    restart: bool,
) -> None:
    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    try:
        mapping = load_mapping(mapping_name)
    except MappingError as exc:
        raise click.UsageError(str(exc)) from None
    options = {
        "encoding": encoding,
        "tenant": tenant,
        "batch": batch,
        "limit": limit,
        "restart": restart,
    }
    started = time.perf_counter()
    try:
        report, rows = asyncio.run(_run(settings, url, file, mapping, options))
    except (MappingError, DatasetError) as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("\nInterrupted; run the same command again to resume.", err=True)
        raise SystemExit(130) from None
    if report.up_to_date:
        click.echo(
            f"{file.name} was already imported ({report.rows:,} rows); --restart goes through "
            "it again."
        )
        return
    _summary(report, rows, time.perf_counter() - started)
