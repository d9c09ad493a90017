"""``smartseoul opendata``: keys and datasets from the command line, on a SQLite data dir."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from smartseoul.cli import main
from smartseoul.hub.store.sqlite import SqliteStore
from smartseoul.opendata.catalog import Catalog
from smartseoul.opendata.keys import KeyStore


def run(*args):
    result = CliRunner().invoke(main, ["opendata", *args])
    return result


def test_key_issue_list_revoke(tmp_path):
    d = str(tmp_path)
    issued = run("key", "issue", "--owner", "bus app", "--role", "writer", "--daily-quota", "50",
                 "--data-dir", d)  # fmt: skip
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip().splitlines()[0]
    assert len(key) == 40

    async def lookup():
        store = SqliteStore(tmp_path / "smartseoul.db")
        await store.open()
        try:
            return await KeyStore(store).lookup(key)
        finally:
            await store.close()

    record = asyncio.run(lookup())
    assert (record.owner, record.role, record.daily_quota) == ("bus app", "writer", 50)
    listing = run("key", "list", "--data-dir", d)
    assert key[:10] in listing.output and "live" in listing.output
    assert run("key", "revoke", key[:10], "--data-dir", d).exit_code == 0
    assert asyncio.run(lookup()) is None
    assert "revoked" in run("key", "list", "--data-dir", d).output
    assert run("key", "revoke", key[:10], "--data-dir", d).exit_code == 1
    bad = run("key", "issue", "--owner", "x", "--role", "king", "--data-dir", d)
    assert bad.exit_code == 2


def test_dataset_add_upload_list_remove_usage(tmp_path):
    d = str(tmp_path)
    spec = tmp_path / "cctv.yaml"
    spec.write_text(
        "name: Cctv\ntitle: {ko: CCTV 현황}\ndescription: {en: cameras}\nlicense_id: KOGL-1\n"
        "resources:\n  - {id: cctv-csv, kind: file, name: {en: CSV}}\n",
        encoding="utf-8",
    )
    added = run("dataset", "add", str(spec), "--data-dir", d)
    assert added.exit_code == 0 and "published Cctv (1 resources)" in added.output
    data = tmp_path / "cctv.csv"
    data.write_bytes("기관명,소계\n강남구,2780\n".encode())
    up = run("dataset", "upload", "cctv-csv", str(data), "--data-dir", d)
    assert up.exit_code == 0 and "cctv.csv" in up.output

    async def read():
        store = SqliteStore(tmp_path / "smartseoul.db")
        await store.open()
        try:
            return await Catalog(store).get_file("cctv-csv")
        finally:
            await store.close()

    assert asyncio.run(read()) == (data.read_bytes(), "cctv.csv", "text/csv")
    assert "cctv-csv  file  CSV" in run("dataset", "list", "--data-dir", d).output
    both = tmp_path / "two.json"
    both.write_text(json.dumps([
        {"name": "A1", "title": {"en": "a"}, "description": {"en": "a"}},
        {"name": "B2", "title": {"en": "b"}, "description": {"en": "b"}, "license_id": "MIT"},
    ]))  # fmt: skip
    refused = run("dataset", "add", str(both), "--data-dir", d)
    assert refused.exit_code == 2 and "unknown licence 'MIT'" in refused.output
    assert "A1" not in run("dataset", "list", "--data-dir", d).output  # nothing half-added
    assert run("dataset", "remove", "Cctv", "--data-dir", d).exit_code == 0
    assert run("dataset", "remove", "Cctv", "--data-dir", d).exit_code == 1
    assert run("usage", "--data-dir", d).exit_code == 0
