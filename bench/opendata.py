"""Benchmark of open-data downloads: rows/s and peak memory for a 1-million-row history.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/opendata.py                 # 1,000,000 rows (100 entities x 10,000)
    .venv/bin/python bench/opendata.py --rows 100000   # a quicker run

It builds a SQLite hub with the history, publishes a history view of it (one row per
instance: id, attribute, observedAt, value, unitCode), starts ``smartseoul``'s app under
uvicorn in a subprocess and downloads the view as CSV and as JSON over HTTP, streaming.
Printed per format: rows/s, and the server's peak memory and its growth
over the idle server (anonymous memory, sampled every 20 ms; the total RSS also holds
SQLite's memory map of the database file, shown apart). The baseline, in the same run and in its own process: a raw
``sqlite3`` cursor over the same rows of the ``history`` table written with ``csv.writer``
to a file (no HTTP, no formatting of times or values). Target: at least half the
baseline's rows/s, and a server peak under 200 MB.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
ENTITIES = 100

BASELINE = r"""
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


async def build(folder: Path, rows: int) -> None:
    """The hub database: ENTITIES entities, ``rows`` temperature instances among them."""
    sys.path.insert(0, str(HERE.parent / "src"))
    from smartseoul.config import Settings
    from smartseoul.hub.broker import Broker
    from smartseoul.hub.jsonld import ContextResolver
    from smartseoul.hub.store.base import HistoryRow
    from smartseoul.hub.store.sqlite import SqliteStore
    from smartseoul.opendata.catalog import Catalog, parse_dataset

    store = SqliteStore(folder / "smartseoul.db", synchronous="OFF")
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid: int, field: str) -> int:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="History rows (default 1M).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-opendata-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        asyncio.run(build(folder, args.rows))
        print(f"built {args.rows:,} history rows in {time.perf_counter() - started:.1f} s")

        out = subprocess.run(
            [sys.executable, "-c", BASELINE, str(folder / "smartseoul.db"), str(folder / "raw.csv")],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        n, seconds, peak = out.stdout.split()
        base_rate = int(n) / float(seconds)
        print(f"baseline  raw sqlite3 cursor -> csv.writer: {int(n):,} rows in {float(seconds):.2f} s"
              f" = {base_rate:,.0f} rows/s, peak RSS {int(peak) / 2**20:.0f} MB")

        port = free_port()
        env = {**os.environ, "SMARTSEOUL_DATA_DIR": str(folder), "SMARTSEOUL_PORT": str(port),
               "SMARTSEOUL_LOG_LEVEL": "WARNING", "PYTHONPATH": str(HERE.parent / "src")}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "smartseoul.app:create_app",
             "--port", str(port), "--no-access-log", "--log-level", "warning"],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            deadline = time.time() + 60
            while True:
                try:
                    httpx.get(base + "/health", timeout=2).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            idle = rss(server.pid, "VmRSS")
            idle_anon = rss(server.pid, "RssAnon")
            print(f"server idle: RSS {idle / 2**20:.0f} MB, of which anonymous (heap) "
                  f"{idle_anon / 2**20:.0f} MB; the rest is SQLite's mmap of the database file")
            for fmt in ("csv", "json"):
                anon = [idle_anon]
                done = threading.Event()

                def sample(anon: list[int] = anon, done: threading.Event = done) -> None:
                    while not done.wait(0.02):
                        anon[0] = max(anon[0], rss(server.pid, "RssAnon"))

                sampler = threading.Thread(target=sample)
                sampler.start()
                try:
                    rows, seconds, size = download(base, fmt)
                finally:
                    done.set()
                    sampler.join()
                peak = rss(server.pid, "VmHWM")
                rate = rows / seconds
                print(f"{fmt:<5} download: {rows:,} rows, {size / 2**20:.0f} MB in {seconds:.2f} s = "
                      f"{rate:,.0f} rows/s ({rate / base_rate:.2f}x baseline); server peak "
                      f"anonymous memory {anon[0] / 2**20:.0f} MB (+{(anon[0] - idle_anon) / 2**20:.0f}"
                      f" MB over idle), peak RSS incl. mmap {peak / 2**20:.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
