"""``smartseoul opendata``: keys, datasets and usage, straight on the configured store."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from smartseoul.config import Settings
from smartseoul.opendata.catalog import Catalog, CatalogError, NotFound, parse_dataset
from smartseoul.opendata.keys import ROLES, KeyError_, KeyStore

T = TypeVar("T")
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), default=None,
    help="Folder of the SQLite database (default: ./var or SMARTSEOUL_DATA_DIR); "
    "SMARTSEOUL_DATABASE_URL selects PostgreSQL.",
)  # fmt: skip


def _run(data_dir: Path | None, work: Callable[[Any, Settings], Awaitable[T]]) -> T:
    from smartseoul.app import make_store

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()

    async def main() -> T:
        store = make_store(settings)
        await store.open()
        try:
            return await work(store, settings)
        finally:
            await store.close()

    return asyncio.run(main())


def _keys(store: Any, settings: Settings) -> KeyStore:
    return KeyStore(store, daily_quota=settings.opendata_daily_quota,
                    rate_limit=settings.opendata_rate_limit)  # fmt: skip


@click.group(help="Open Data Plaza: API keys, datasets and usage statistics (see docs/opendata.md).")
def opendata() -> None:
    pass


@opendata.group(help="Issue, list and revoke API keys.")
def key() -> None:
    pass


@key.command("issue", help="Issue a key and print it (it is shown only once; the store keeps a hash).")
@click.option("--owner", required=True, help="Who the key is for (a person, an app, a company).")
@click.option("--role", type=click.Choice(ROLES), default="reader", show_default=True,
              help="reader: open data and hub reads; writer: also hub writes; admin: also admin endpoints.")
@click.option("--tenant", default="", help="Hub tenant the role applies to ('' the default tenant, '*' all).")
@click.option("--daily-quota", type=click.IntRange(min=0), default=None,
              help="Calls a day (default SMARTSEOUL_OPENDATA_DAILY_QUOTA); 0: no quota.")
@click.option("--rate-limit", type=click.IntRange(min=0), default=None,
              help="Calls a minute (default SMARTSEOUL_OPENDATA_RATE_LIMIT); 0: no limit.")
@data_dir_option
def key_issue(owner: str, role: str, tenant: str, daily_quota: int | None, rate_limit: int | None,
              data_dir: Path | None) -> None:  # fmt: skip
    async def work(store: Any, settings: Settings) -> tuple[str, Any]:
        return await _keys(store, settings).issue(
            owner, role=role, tenant=tenant, daily_quota=daily_quota, rate_limit=rate_limit
        )

    try:
        plain, record = _run(data_dir, work)
    except KeyError_ as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(plain)
    click.echo(f"id {record.id}, {record.role} on tenant {record.tenant or 'default'!r}, "
               f"{record.daily_quota or 'unlimited'} calls a day, "
               f"{record.rate_limit or 'unlimited'} a minute", err=True)  # fmt: skip


@key.command("revoke", help="Revoke a key by its id (its first 10 characters) or by the key itself.")
@click.argument("key_id")
@data_dir_option
def key_revoke(key_id: str, data_dir: Path | None) -> None:
    async def work(store: Any, settings: Settings) -> bool:
        return await _keys(store, settings).revoke(key_id)

    if not _run(data_dir, work):
        raise click.ClickException(f"no live key with id {key_id}")
    click.echo(f"revoked {key_id}")


@key.command("list", help="List keys: id, owner, role, tenant, limits, revoked or not.")
@data_dir_option
def key_list(data_dir: Path | None) -> None:
    async def work(store: Any, settings: Settings) -> list[Any]:
        return await _keys(store, settings).list_keys()

    for record in _run(data_dir, work):
        state = "revoked" if record.revoked_at else "live"
        click.echo(f"{record.id}  {record.role:<6}  tenant={record.tenant or 'default'}  "
                   f"quota={record.daily_quota}/day  rate={record.rate_limit}/min  {state}  "
                   f"{record.owner}")  # fmt: skip


@opendata.group(help="Add, list, remove datasets and upload resource files.")
def dataset() -> None:
    pass


@dataset.command("add", help="Add or replace datasets described in a YAML or JSON file "
                 "(one dataset, or a list of them).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def dataset_add(file: Path, data_dir: Path | None) -> None:
    text = file.read_text(encoding="utf-8")
    data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    items = data if isinstance(data, list) else [data]
    try:
        datasets = [parse_dataset(item) for item in items]
    except CatalogError as exc:
        raise click.UsageError(f"{file}: {exc}") from None

    async def work(store: Any, settings: Settings) -> None:
        for item in datasets:
            await Catalog(store).put_dataset(item)

    try:
        _run(data_dir, work)
    except CatalogError as exc:
        raise click.UsageError(f"{file}: {exc}") from None
    for item in datasets:
        click.echo(f"published {item.name} ({len(item.resources)} resources)")


@dataset.command("list", help="List datasets with their resources.")
@data_dir_option
def dataset_list(data_dir: Path | None) -> None:
    async def work(store: Any, settings: Settings) -> list[Any]:
        return await Catalog(store).datasets()

    for item in _run(data_dir, work):
        click.echo(f"{item.name}  {item.title.ko or item.title.en}  [{item.license_id}]")
        for resource in item.resources:
            click.echo(f"    {resource.id}  {resource.kind}  {resource.format}")


@dataset.command("remove", help="Remove a dataset, its resources and uploaded files.")
@click.argument("name")
@data_dir_option
def dataset_remove(name: str, data_dir: Path | None) -> None:
    async def work(store: Any, settings: Settings) -> bool:
        return await Catalog(store).delete_dataset(name)

    if not _run(data_dir, work):
        raise click.ClickException(f"no dataset named {name}")
    click.echo(f"removed {name}")


@dataset.command("upload", help="Upload the file of a file resource (CSV, JSON, XLSX or any file).")
@click.argument("resource_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--media-type", default=None, help="Content type (default: from the file extension).")
@data_dir_option
def dataset_upload(resource_id: str, file: Path, media_type: str | None, data_dir: Path | None) -> None:
    import mimetypes

    kind = media_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"

    async def work(store: Any, settings: Settings) -> Any:
        return await Catalog(store).put_file(
            resource_id, file.read_bytes(), filename=file.name, media_type=kind
        )

    try:
        resource = _run(data_dir, work)
    except (NotFound, CatalogError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"uploaded {file.name} ({resource.size} bytes) to {resource_id}")


@opendata.command("usage", help="Usage statistics: calls and rows per day, dataset, key and API.")
@click.option("--since", default="", help="First day, YYYYMMDD (Asia/Seoul).")
@click.option("--dataset", "dataset_name", default="", help="Only this dataset.")
@data_dir_option
def usage(since: str, dataset_name: str, data_dir: Path | None) -> None:
    async def work(store: Any, settings: Settings) -> list[dict[str, Any]]:
        return await _keys(store, settings).usage(since=since, dataset=dataset_name)

    for row in _run(data_dir, work):
        click.echo(f"{row['day']}  {row['dataset']}  key={row['key'] or '-'}  {row['api']}  "
                   f"calls={row['calls']}  rows={row['rows']}")  # fmt: skip
