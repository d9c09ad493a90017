"""Benchmark of open-data downloads: rows/s and peak memory for a 1-million-row history.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/opendata.py                      # SQLite, 1,000,000 rows
    .venv/bin/python bench/opendata.py --rows 100000        # a quicker run
    .venv/bin/python bench/opendata.py --backend postgres   # PostgreSQL (a schema of its own)
    .venv/bin/python bench/opendata.py --mmap-mb 256        # SQLite read through a 256 MB map

It builds a hub with the history (100 entities x rows/100 instances), publishes a history
view of it (one row per instance: id, attribute, observedAt, value, unitCode), and for each
format starts a fresh ``smartseoul`` server (uvicorn, its own process), waits for
``/health`` as a deployment's probe would, and downloads the view over HTTP, streaming.

Printed per format: rows/s and the ratio to the baseline, and the server's peak memory:
its peak resident set size (``VmHWM`` of the server process: everything resident, heap,
libraries and any memory-mapped database pages). The baseline, in the same run and in its
own process: a raw database cursor over the same rows of the ``history`` table written by
``csv.writer`` to a file (no HTTP, no formatting of times or values). Targets: at least
half the baseline's rows/s, and a server peak RSS under 200 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
ENTITIES = 100
TARGET_RATIO = 0.5
TARGET_MB = 200
POSTGRES_URL = os.environ.get("SMARTSEOUL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

BASELINE_SQLITE = r"""
import csv, resource, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
start = time.perf_counter()
with open(sys.argv[2], "w", newline="") as out:
    writer = csv.writer(out)
    cur = db.execute(
        "SELECT entity_id, attr, observed_at, num, json_extract(data, '$.unitCode') FROM history "
        "WHERE tenant='' AND NOT deleted AND observed_at IS NOT NULL ORDER BY entity_id, attr, observed_at")
    n = 0
    while rows := cur.fetchmany(5000):
        writer.writerows(rows)
        n += len(rows)
seconds = time.perf_counter() - start
print(n, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

BASELINE_POSTGRES = r"""
import csv, resource, sys, time
import psycopg
db = psycopg.connect(sys.argv[1])
db.execute(f'SET search_path TO "{sys.argv[3]}"')
start = time.perf_counter()
with open(sys.argv[2], "w", newline="") as out, db.transaction():
    writer = csv.writer(out)
    cur = db.cursor(name="baseline")  # server-side: rows arrive 5,000 at a time
    cur.execute(
        "SELECT entity_id, attr, observed_at, num, data->>'unitCode' FROM history "
        "WHERE tenant='' AND NOT deleted AND observed_at IS NOT NULL ORDER BY entity_id, attr, observed_at")
    n = 0
    while rows := cur.fetchmany(5000):
        writer.writerows(rows)
        n += len(rows)
seconds = time.perf_counter() - start
print(n, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def open_store(backend: str, folder: Path, schema: str):
    if backend == "postgres":
        from smartseoul.hub.store.postgres import PostgresStore

        return PostgresStore(POSTGRES_URL, schema=schema)
    from smartseoul.hub.store.sqlite import SqliteStore

    return SqliteStore(folder / "smartseoul.db", synchronous="OFF")


async def build(backend: str, folder: Path, schema: str, rows: int) -> None:
    """The hub database: ENTITIES entities, ``rows`` temperature instances among them."""
    from smartseoul.config import Settings
    from smartseoul.hub.broker import Broker
    from smartseoul.hub.jsonld import ContextResolver
    from smartseoul.hub.store.base import HistoryRow
    from smartseoul.opendata.catalog import Catalog, parse_dataset

    store = open_store(backend, folder, schema)
    await store.open()
    resolver = ContextResolver(store, Settings(data_dir=folder))
    expand = (await resolver.resolve(None)).expand
    entities = [{"id": f"urn:ngsi-ld:BenchSensor:{i:03d}", "type": "BenchSensor",
                 "temperature": {"type": "Property", "value": 20.5}} for i in range(ENTITIES)]  # fmt: skip
    await Broker(store).batch_upsert("", [(e, expand) for e in entities], mode="replace")
    per_entity = rows // ENTITIES
    attr = DEFAULT + "temperature"
    for i in range(ENTITIES):
        entity_id = f"urn:ngsi-ld:BenchSensor:{i:03d}"
        batch = []
        for k in range(per_entity):
            t = T0 + 60 * k
            value = round(15 + (k % 600) / 40 + i / 100, 2)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            data = {"type": "Property", "value": value, "unitCode": "CEL", "observedAt": stamp}
            batch.append(HistoryRow(entity_id, attr, f"urn:ngsi-ld:i:{i}:{k}", "", t, t, data,
                                    num=value))  # fmt: skip
        async with store.transaction("") as tx:
            await tx.append_history(batch)
    view = {"type": "BenchSensor", "mode": "history", "layout": "long", "attrs": ["temperature"],
            "start": "2025-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}  # fmt: skip
    dataset = {"name": "BenchHistory", "title": {"en": "bench"}, "description": {"en": "bench"},
               "resources": [{"id": "bench", "kind": "query", "name": {"en": "bench"},
                              "query": view}]}  # fmt: skip
    await Catalog(store).put_dataset(parse_dataset(dataset))
    await resolver.close()
    await store.close()


async def drop(schema: str) -> None:
    store = open_store("postgres", Path(), schema)
    await store.open()
    await store.drop()
    await store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid: int, field: str) -> int:
    """A size from /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def download(base: str, fmt: str) -> tuple[int, float, int]:
    import httpx

    url = f"{base}/opendata/datasets/BenchHistory/resources/bench/download?format={fmt}"
    start = time.perf_counter()
    size = newlines = objects = 0
    tail = b""
    with httpx.stream("GET", url, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 16):
            size += len(chunk)
            newlines += chunk.count(b"\n")
            # JSON: count the objects' first key, also where it straddles two chunks.
            objects += (tail + chunk).count(b'{"id"')
            tail = chunk[-4:]
    seconds = time.perf_counter() - start
    rows = newlines - 1 if fmt == "csv" else objects
    return rows, seconds, size


def serve_and_download(env: dict[str, str], fmt: str) -> dict[str, float]:
    """A fresh server, one download; its rows/s and memory figures."""
    import httpx

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "smartseoul.app:create_app",
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        env={**env, "SMARTSEOUL_PORT": str(port)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                httpx.get(base + "/health", timeout=30).raise_for_status()
                break
            except httpx.HTTPError:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        ready = status(server.pid, "VmHWM")
        # Anonymous (heap) and file-backed resident memory, sampled: where the peak lies.
        most = {"RssAnon": 0, "RssFile": 0}
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                for field in most:
                    most[field] = max(most[field], status(server.pid, field))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            rows, seconds, size = download(base, fmt)
        finally:
            done.set()
            sampler.join()
        return {"rows": rows, "seconds": seconds, "size": size, "ready": ready,
                "peak": status(server.pid, "VmHWM"), "anon": most["RssAnon"],
                "file": most["RssFile"]}  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE.parent,
                             capture_output=True, text=True, check=True)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="History rows (default 1M).")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--mmap-mb", type=int, default=None,
                        help="SMARTSEOUL_SQLITE_MMAP_MB for the server (default: the setting's)")  # fmt: skip
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    from smartseoul.config import Settings

    mmap_mb = Settings().sqlite_mmap_mb if args.mmap_mb is None else args.mmap_mb
    schema = f"bench_opendata_{uuid.uuid4().hex[:8]}"
    backend = args.backend
    print(f"commit {commit()}, backend {backend}"
          + (f", SQLite mmap {mmap_mb} MB" if backend == "sqlite" else f", schema {schema}")
          + f"; {load()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-opendata-") as tmp:
        folder = Path(tmp)
        try:
            started = time.perf_counter()
            asyncio.run(build(backend, folder, schema, args.rows))
            print(f"built {args.rows:,} history rows in {time.perf_counter() - started:.1f} s")
            if backend == "sqlite":
                script = [BASELINE_SQLITE, str(folder / "smartseoul.db"), str(folder / "raw.csv")]
            else:
                script = [BASELINE_POSTGRES, POSTGRES_URL, str(folder / "raw.csv"), schema]
            out = subprocess.run([sys.executable, "-c", *script], check=True, capture_output=True,
                                 text=True)  # fmt: skip
            n, seconds, peak = out.stdout.split()
            base_rate = int(n) / float(seconds)
            print(f"baseline  raw {'sqlite3' if backend == 'sqlite' else 'psycopg'} cursor -> "
                  f"csv.writer: {int(n):,} rows in {float(seconds):.2f} s = {base_rate:,.0f} rows/s,"
                  f" peak RSS {int(peak) / 2**20:.0f} MB (its own process)")  # fmt: skip

            env = {**os.environ, "SMARTSEOUL_DATA_DIR": str(folder),
                   "SMARTSEOUL_SQLITE_MMAP_MB": str(mmap_mb), "SMARTSEOUL_LOG_LEVEL": "WARNING",
                   "PYTHONPATH": str(HERE.parent / "src")}  # fmt: skip
            if backend == "postgres":
                env["SMARTSEOUL_DATABASE_URL"] = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
            verdicts = []
            for fmt in ("csv", "json"):
                got = serve_and_download(env, fmt)
                rate = got["rows"] / got["seconds"]
                ratio, peak_mb = rate / base_rate, got["peak"] / 2**20
                print(f"{fmt:<5} download: {got['rows']:,} rows, {got['size'] / 2**20:.0f} MB in "
                      f"{got['seconds']:.2f} s = {rate:,.0f} rows/s = {ratio:.2f}x baseline; "
                      f"server peak RSS (VmHWM) {peak_mb:.0f} MB (ready, after /health: "
                      f"{got['ready'] / 2**20:.0f} MB; sampled peaks: anonymous "
                      f"{got['anon'] / 2**20:.0f} MB, file-backed {got['file'] / 2**20:.0f} MB)")  # fmt: skip
                verdicts.append(f"{fmt}: rows/s >= {TARGET_RATIO}x baseline "
                                f"{'met' if ratio >= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x), "
                                f"peak RSS < {TARGET_MB} MB "
                                f"{'met' if peak_mb < TARGET_MB else 'NOT met'} ({peak_mb:.0f} MB)")  # fmt: skip
            print("targets: " + "; ".join(verdicts))
            print(f"after the run: {load()}")
        finally:
            if backend == "postgres":
                asyncio.run(drop(schema))


if __name__ == "__main__":
    main()
