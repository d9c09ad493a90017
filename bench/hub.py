"""Benchmark of the smartseoul city data hub over HTTP, on SQLite and PostgreSQL.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/hub.py                     # both backends, full run (~10 min)
    .venv/bin/python bench/hub.py --backend sqlite --quick
    .venv/bin/python bench/hub.py --json var/bench.json

Every figure is printed next to a baseline measured in the same run:

1. single-entity creates/s (POST /entities)         vs a bare Starlette app's POST/s
2. entities/s in batches of 100 (entityOperations/create)  vs plain executemany of (id, json)
3. attribute updates/s (PATCH /entities/{id}/attrs)  vs the bare app's PATCH/s
4. GET /entities latency p50/p95 at 1k/10k/100k      vs the bare app's GET latency
5. temporal aggregation queries/s over 1M history rows  vs a plain SQL GROUP BY per query

The servers run as ``python -m uvicorn --factory`` subprocesses (1 worker, uvloop, httptools,
no access log: the ``smartseoul serve`` configuration) on 127.0.0.1 with a free port. The load
comes from a separate client process: N keep-alive HTTP/1.1 connections driven by asyncio
(uvloop), written directly on sockets so that the client spends as little CPU as possible —
client and server share the machine's cores, and the output says how busy each was.

This module doubles as the uvicorn app module (``hub:hub_app`` and ``hub:bare_app`` with
``--app-dir bench``) and as the client (``hub.py _client`` reads its spec on stdin); keep its
top-level imports light. It is not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = {"path": ROOT / "src"}  # --src: the smartseoul sources the servers and loaders import
PG_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
API = "/ngsi-ld/v1"
TYPE = "BenchSensor"
DEFAULT_CONTEXT = "https://uri.etsi.org/ngsi-ld/default-context/"
TEMPERATURE_IRI = DEFAULT_CONTEXT + "temperature"
TYPE_IRI = DEFAULT_CONTEXT + TYPE
T0 = 1767225600.0  # 2026-01-01T00:00:00Z: first history instance
STEP = 600.0  # history instances every 10 minutes
BATCH = 100

TARGETS = {
    # figure key: (backends it applies to, description, predicate on the value)
    "create": (("sqlite",), ">= 1,500 creates/s", lambda v: v >= 1500),
    "batch": (("sqlite",), ">= 20,000 entities/s", lambda v: v >= 20000),
    "get_p95_100k": (("sqlite", "postgres"), "p95 < 50 ms at 100k", lambda v: v < 50),
    "temporal": (("sqlite", "postgres"), ">= 200 queries/s", lambda v: v >= 200),
}


# =============================================================================================
# Entities the client sends (normalized NGSI-LD, no @context: terms take the default context)
# =============================================================================================


def temperature_of(i: int) -> float:
    """Uniform over [0, 100) in steps of 0.01: ``temperature>99`` selects 0.99 % of entities."""
    return (i * 7919 % 10000) / 100


def entity(eid: str, i: int) -> dict[str, Any]:
    """Six attributes: three numbers, a string, a Relationship and a GeoProperty."""
    return {
        "id": eid,
        "type": TYPE,
        "temperature": {
            "type": "Property",
            "value": temperature_of(i),
            "unitCode": "CEL",
            "observedAt": "2026-11-28T06:00:00Z",
        },
        "humidity": {"type": "Property", "value": 40 + i % 50, "unitCode": "P1"},
        "pm10": {"type": "Property", "value": i % 150, "unitCode": "GQ"},
        "status": {"type": "Property", "value": "alarm" if i % 100 == 0 else "ok"},
        "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:bench-{i % 1000}"},
        "location": {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [126.8 + (i % 997) / 2000, 37.45 + (i % 991) / 2000],
            },
        },
    }


def entity_id(tag: str, i: int) -> str:
    return f"urn:ngsi-ld:{TYPE}:{tag}-{i}"


# =============================================================================================
# Server apps (imported by uvicorn as hub:hub_app / hub:bare_app)
# =============================================================================================


def hub_app() -> Any:
    """The real hub on the store named by BENCH_* environment variables."""
    from smartseoul.app import create_app
    from smartseoul.config import Settings

    data_dir = Path(os.environ["BENCH_DATA_DIR"])
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    if os.environ["BENCH_BACKEND"] == "postgres":
        from smartseoul.hub.store.postgres import PostgresStore

        store: Any = PostgresStore(
            os.environ["BENCH_PG_URL"],
            schema=os.environ["BENCH_PG_SCHEMA"],
            pool_size=settings.postgres_pool_size,
        )
    else:
        from smartseoul.hub.store.sqlite import SqliteStore

        store = SqliteStore(os.environ["BENCH_SQLITE_PATH"])
    return create_app(settings, store=store)


def bare_app() -> Any:
    """The baseline: a bare Starlette app with the hub's routes answering fixed JSON."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    page = orjson.dumps([entity(entity_id("bare", i), i) for i in range(20)])
    created = orjson.dumps({"ok": True})

    async def post(request: Request) -> Response:
        await request.body()
        return Response(created, status_code=201, media_type="application/json")

    async def patch(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    async def get(request: Request) -> Response:
        return Response(page, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route(f"{API}/entities", post, methods=["POST"]),
            Route(f"{API}/entities", get, methods=["GET"]),
            Route(f"{API}/entities/{{eid}}/attrs", patch, methods=["PATCH"]),
            Route("/health", health, methods=["GET"]),
        ]
    )


# =============================================================================================
# Client (a separate process: ``hub.py _client`` with a JSON spec on stdin, JSON on stdout)
# =============================================================================================


def _cpu_ticks(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _postgres_cpu() -> float:
    """CPU seconds used so far by all PostgreSQL server processes (postmaster and backends)."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == "postgres":
                    total += _cpu_ticks(int(entry.name)) or 0.0
            except OSError:
                continue
    return total


def _machine_busy() -> tuple[float, float]:
    """(busy seconds, total seconds) over all cores, from /proc/stat."""
    parts = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(parts) - idle) / tick, sum(parts) / tick


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, bytes(body)
            body += await reader.readexactly(size + 2)
            del body[-2:]
    return status, (await reader.readexactly(length) if length else b"")


class RequestMaker:
    """Builds the raw HTTP/1.1 requests of one client mode."""

    def __init__(self, spec: dict[str, Any]):
        import orjson

        self.dumps = orjson.dumps
        self.spec = spec
        self.mode = spec["mode"]
        self.host = f"127.0.0.1:{spec['port']}".encode()
        self.tag = spec.get("tag", "x")
        self.rng = random.Random(spec.get("seed", 1))
        self.next_index = spec.get("start", 0)
        self.end_index = spec.get("end")
        self.pool = spec.get("pool", 0)
        self.path = spec.get("path", "").encode()

    def _req(self, method: bytes, path: bytes, body: bytes | None = None) -> bytes:
        head = (
            method
            + b" "
            + path
            + b" HTTP/1.1\r\nHost: "
            + self.host
            + b"\r\nAccept: application/json\r\n"
        )
        if body is None:
            return head + b"\r\n"
        return (
            head
            + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    def take(self, n: int) -> int | None:
        """The next ``n`` entity indices (shared by all connections of this process)."""
        i = self.next_index
        if self.end_index is not None and i >= self.end_index:
            return None
        self.next_index += n
        return i

    def make(self) -> tuple[bytes, int] | None:
        """(request, entities it carries), or None when a bounded load is done."""
        mode = self.mode
        if mode == "create":
            i = self.take(1)
            if i is None:
                return None
            return self._req(
                b"POST", f"{API}/entities".encode(), self.dumps(entity(entity_id(self.tag, i), i))
            ), 1
        if mode in ("batch", "load"):
            i = self.take(BATCH)
            if i is None:
                return None
            stop = i + BATCH if self.end_index is None else min(i + BATCH, self.end_index)
            body = self.dumps([entity(entity_id(self.tag, j), j) for j in range(i, stop)])
            op = self.spec.get("operation", "create").encode()
            return self._req(b"POST", API.encode() + b"/entityOperations/" + op, body), stop - i
        if mode == "patch":
            i = self.rng.randrange(self.pool)
            body = self.dumps(
                {"temperature": {"type": "Property", "value": round(self.rng.uniform(0, 100), 2)}}
            )
            return self._req(
                b"PATCH", f"{API}/entities/{entity_id(self.tag, i)}/attrs".encode(), body
            ), 1
        if mode == "get":
            return self._req(b"GET", self.path), 1
        if mode == "temporal":
            i = self.rng.randrange(self.pool)
            return self._req(b"GET", self.path.replace(b"{id}", entity_id(self.tag, i).encode())), 1
        raise ValueError(mode)


async def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    maker = RequestMaker(spec)
    expected = set(spec["expect"])
    concurrency = spec["concurrency"]
    bounded = spec["mode"] == "load"
    warmup = 0.0 if bounded else spec["warmup"]
    duration = spec.get("duration", 0.0)
    min_requests = spec.get("min_requests", 0)
    latencies: list[float] = []
    errors: list[str] = []
    counters = {"requests": 0, "items": 0, "errors": 0}
    start = time.perf_counter()
    win_start, win_end = start + warmup, start + warmup + duration
    snapshot: dict[str, Any] = {}

    def take_snapshot(key: str) -> None:
        snapshot[key] = (
            time.perf_counter(),
            _cpu_ticks(spec.get("server_pid")),
            time.process_time(),
            _machine_busy(),
            _postgres_cpu(),
        )

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"], limit=1 << 20)
        try:
            while True:
                made = maker.make()
                if made is None:
                    return
                request, items = made
                t0 = time.perf_counter()
                if not bounded and t0 >= win_end:
                    # Latency figures go on (up to 10 windows) until they have min_requests samples.
                    done = counters["requests"] + counters["errors"]
                    if done >= min_requests or t0 >= win_start + 10 * max(duration, 1.0):
                        return
                writer.write(request)
                status, body = await _read_response(reader)
                t1 = time.perf_counter()
                if bounded or win_start <= t0:
                    if status not in expected:
                        counters["errors"] += 1
                        if len(errors) < 3:
                            errors.append(f"{status}: {body[:300].decode(errors='replace')}")
                    else:
                        counters["requests"] += 1
                        counters["items"] += items
                        latencies.append(t1 - t0)
        finally:
            writer.close()

    async def snapshots() -> None:
        if bounded:
            return
        await asyncio.sleep(max(0.0, win_start - time.perf_counter()))
        take_snapshot("start")
        await asyncio.sleep(max(0.0, win_end - time.perf_counter()))
        take_snapshot("end")

    if bounded:
        take_snapshot("start")
    await asyncio.gather(snapshots(), *(worker() for _ in range(concurrency)))
    if bounded:
        take_snapshot("end")
    (w0, s0, c0, m0, p0), (w1, s1, c1, m1, p1) = snapshot["start"], snapshot["end"]
    elapsed = max(w1 - w0, 1e-9)
    if not bounded:
        # Requests started before win_end may finish after it: count them over their real span.
        elapsed = max(time.perf_counter() - win_start, elapsed)
    latencies.sort()

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": counters["requests"],
        "items": counters["items"],
        "errors": counters["errors"],
        "error_samples": errors,
        "seconds": round(elapsed, 3),
        "requests_per_s": counters["requests"] / elapsed,
        "items_per_s": counters["items"] / elapsed,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": (sum(latencies) / len(latencies) * 1000) if latencies else None,
        "server_cpu": ((s1 - s0) / (w1 - w0)) if s0 is not None and s1 is not None else None,
        "client_cpu": (c1 - c0) / max(w1 - w0, 1e-9),
        "machine_busy": (m1[0] - m0[0]) / max(m1[1] - m0[1], 1e-9),
        # in cores: everything else that ran meanwhile (kernel work, other programs)
        "postgres_cores": (p1 - p0) / max(w1 - w0, 1e-9),
        "other_cores": (m1[0] - m0[0]) / max(w1 - w0, 1e-9)
        - (p1 - p0) / max(w1 - w0, 1e-9)
        - (((s1 - s0) if s0 is not None and s1 is not None else 0) + (c1 - c0))
        / max(w1 - w0, 1e-9),
    }


def client_main() -> None:
    spec = json.load(sys.stdin)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run_client(spec))))


# =============================================================================================
# Orchestration
# =============================================================================================


def log(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m uvicorn --factory hub:<app>`` as a subprocess, with the serve configuration."""

    def __init__(self, app: str, env: dict[str, str], logdir: Path, name: str):
        self.app, self.env, self.logfile = app, env, logdir / f"server-{name}.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "--app-dir",
            str(HERE),
            f"hub:{self.app}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--no-server-header",
            "--log-level",
            "warning",
            "--lifespan",
            "on",
        ]
        env = {**os.environ, **self.env, "PYTHONPATH": str(SRC["path"])}
        self._log = open(self.logfile, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.app} exited: {self.logfile.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                    if r.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"server {self.app} did not start: {self.logfile.read_text()[-2000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


WAIT_IDLE = {"seconds": 30.0}  # --wait-idle


def wait_idle(limit: float) -> float:
    """Wait (up to ``limit`` s) until the machine is nearly idle; return its busy share."""
    deadline = time.perf_counter() + limit
    while True:
        b0 = _machine_busy()
        time.sleep(0.5)
        b1 = _machine_busy()
        busy = (b1[0] - b0[0]) / max(b1[1] - b0[1], 1e-9)
        if busy < 0.1 or time.perf_counter() >= deadline:
            return busy


def client(
    server: Server, spec: dict[str, Any], profile: Profiler | None = None, label: str = ""
) -> dict[str, Any]:
    spec = {"port": server.port, "server_pid": server.pid, **spec}
    if spec["mode"] != "load" and WAIT_IDLE["seconds"] > 0:
        busy = wait_idle(WAIT_IDLE["seconds"])
        if busy >= 0.1:
            log(
                f"    (machine still {busy * 100:.0f}% busy after {WAIT_IDLE['seconds']:g} s: measuring anyway)"
            )
    prof = profile.start(server.pid, label, spec) if profile else None
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_client"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(SRC["path"])},
    )
    if prof:
        profile.stop(prof)
    if out.returncode != 0:
        raise RuntimeError(f"client failed: {out.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    if result["errors"]:
        log(f"    ! {result['errors']} unexpected responses, e.g. {result['error_samples'][:1]}")
    return result


class Profiler:
    """Optional: py-spy on the server process while a hub figure is measured (--py-spy DIR)."""

    def __init__(self, outdir: Path):
        self.outdir = outdir
        outdir.mkdir(parents=True, exist_ok=True)
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    def start(self, pid: int, label: str, spec: dict[str, Any]) -> subprocess.Popen[bytes] | None:
        if not label:
            return None
        seconds = int(spec.get("warmup", 0) + spec.get("duration", 10)) or 10
        return subprocess.Popen(
            [
                self.exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(seconds),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(self.outdir / f"{label}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    @staticmethod
    def stop(proc: subprocess.Popen[bytes] | None) -> None:
        if proc is not None:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class Result:
    figure: str
    key: str
    backend: str
    value: float | None
    unit: str
    baseline: float | None
    baseline_unit: str
    baseline_what: str
    higher_is_better: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def target(self) -> tuple[str, str]:
        spec = TARGETS.get(self.key)
        if spec is None or self.backend not in spec[0]:
            return "", ""
        if self.value is None:
            return spec[1], "n/a"
        return spec[1], "yes" if spec[2](self.value) else "NO"


@dataclass
class Config:
    backends: list[str]
    quick: bool
    duration: float
    warmup: float
    latency_duration: float
    concurrency: int
    sizes: list[int]
    history_entities: int
    history_instances: int
    pg_url: str
    workdir: Path
    profile: Profiler | None
    keep: bool = False


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:,.0f} {unit}"


def cpu_note(r: dict[str, Any]) -> str:
    """Where the machine's CPU went during the measured window, in cores."""
    parts = []
    if r.get("server_cpu") is not None:
        parts.append(f"server {r['server_cpu']:.2f}")
    parts.append(f"client {r['client_cpu']:.2f}")
    if r.get("postgres_cores", 0) > 0.02:
        parts.append(f"postgres {r['postgres_cores']:.2f}")
    parts.append(f"other {max(r.get('other_cores', 0), 0):.2f}")
    note = f"cores: {', '.join(parts)} of {os.cpu_count()}"
    if r.get("other_cores", 0) > 0.3:
        note += " - WARNING: other load on the machine"
    return note


# --- stores ------------------------------------------------------------------------------------


class Backend:
    """Fresh stores for one backend: one SQLite file or one PostgreSQL schema per phase."""

    def __init__(self, name: str, cfg: Config):
        self.name, self.cfg = name, cfg
        self.schemas: list[str] = []

    def fresh(self, phase: str) -> dict[str, str]:
        env = {"BENCH_BACKEND": self.name, "BENCH_DATA_DIR": str(self.cfg.workdir)}
        if self.name == "sqlite":
            path = self.cfg.workdir / f"{phase}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            env["BENCH_SQLITE_PATH"] = str(path)
        else:
            schema = f"bench_{os.getpid()}_{phase}"
            self.drop_schema(schema)
            self.schemas.append(schema)
            env["BENCH_PG_URL"] = self.cfg.pg_url
            env["BENCH_PG_SCHEMA"] = schema
        return env

    def store(self, env: dict[str, str]) -> Any:
        if self.name == "sqlite":
            from smartseoul.hub.store.sqlite import SqliteStore

            return SqliteStore(env["BENCH_SQLITE_PATH"])
        from smartseoul.hub.store.postgres import PostgresStore

        return PostgresStore(env["BENCH_PG_URL"], schema=env["BENCH_PG_SCHEMA"], pool_size=4)

    def drop_schema(self, schema: str) -> None:
        import psycopg

        with psycopg.connect(self.cfg.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def done(self, env: dict[str, str]) -> None:
        """Free the phase's storage (unless --keep)."""
        if self.cfg.keep:
            log(f"  kept: {env.get('BENCH_SQLITE_PATH') or 'schema ' + env['BENCH_PG_SCHEMA']}")
            if self.name == "postgres":
                self.schemas.remove(env["BENCH_PG_SCHEMA"])
            return
        if self.name == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{env['BENCH_SQLITE_PATH']}{suffix}").unlink(missing_ok=True)
        else:
            self.drop_schema(env["BENCH_PG_SCHEMA"])
            self.schemas.remove(env["BENCH_PG_SCHEMA"])

    def cleanup(self) -> None:
        for schema in list(self.schemas):
            with contextlib.suppress(Exception):
                self.drop_schema(schema)
        self.schemas.clear()

    def analyze(self, env: dict[str, str]) -> None:
        """PostgreSQL: refresh planner statistics, as autovacuum would soon after a bulk load."""
        if self.name == "postgres":
            import psycopg

            with psycopg.connect(self.cfg.pg_url, autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{env["BENCH_PG_SCHEMA"]}"')
                conn.execute("ANALYZE")


# --- baselines without HTTP ----------------------------------------------------------------------


def plain_executemany(backend: Backend, env: dict[str, str], seconds: float) -> dict[str, Any]:
    """Rows/s of a plain executemany of (id, json) rows, 100 per transaction, no HTTP."""
    import orjson

    tag = uuid.uuid4().hex[:8]
    rows = 0
    i = 0
    if backend.name == "sqlite":
        import sqlite3

        db = sqlite3.connect(env["BENCH_SQLITE_PATH"], isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS bench_plain (id TEXT PRIMARY KEY, data TEXT NOT NULL)"
        )
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            batch = [
                (entity_id(tag, j), orjson.dumps(entity(entity_id(tag, j), j)).decode())
                for j in range(i, i + BATCH)
            ]
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO bench_plain (id, data) VALUES (?, ?)", batch)
            db.execute("COMMIT")
            rows += len(batch)
            i += BATCH
        elapsed = time.perf_counter() - start
        db.close()
    else:
        import psycopg

        with psycopg.connect(env["BENCH_PG_URL"]) as conn:
            conn.execute(f'SET search_path TO "{env["BENCH_PG_SCHEMA"]}"')
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_plain (id TEXT PRIMARY KEY, data JSONB NOT NULL)"
            )
            conn.commit()
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                batch = [
                    (entity_id(tag, j), orjson.dumps(entity(entity_id(tag, j), j)).decode())
                    for j in range(i, i + BATCH)
                ]
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO bench_plain (id, data) VALUES (%s, %s::jsonb)", batch
                    )
                rows += len(batch)
                i += BATCH
            elapsed = time.perf_counter() - start
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed}


def plain_group_by(
    backend: Backend, env: dict[str, str], cfg: Config, seconds: float
) -> dict[str, Any]:
    """Queries/s of the aggregation as one SQL GROUP BY per entity, no HTTP, no Python aggregation."""
    rng = random.Random(7)
    sql = (
        "SELECT CAST(floor((observed_at - {p}) / 3600) AS INTEGER) AS b, avg(num), min(num), max(num) "
        "FROM history WHERE tenant = '' AND entity_id = {p} AND attr = {p} AND NOT deleted "
        "GROUP BY b ORDER BY b"
    )
    n = cfg.history_entities
    queries = 0
    buckets = 0
    if backend.name == "sqlite":
        import sqlite3

        db = sqlite3.connect(env["BENCH_SQLITE_PATH"])
        q = sql.format(p="?")
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            rows = db.execute(q, (T0, entity_id("h", rng.randrange(n)), TEMPERATURE_IRI)).fetchall()
            buckets += len(rows)
            queries += 1
        elapsed = time.perf_counter() - start
        db.close()
        conns = 1
    else:
        import psycopg

        q = sql.format(p="%s")
        conns = min(cfg.concurrency, 8)

        async def run() -> tuple[int, int, float]:
            done = [0, 0]
            start = time.perf_counter()

            async def worker() -> None:
                async with await psycopg.AsyncConnection.connect(
                    env["BENCH_PG_URL"], autocommit=True
                ) as conn:
                    await conn.execute(f'SET search_path TO "{env["BENCH_PG_SCHEMA"]}"')
                    while time.perf_counter() - start < seconds:
                        cur = await conn.execute(
                            q, (T0, entity_id("h", rng.randrange(n)), TEMPERATURE_IRI)
                        )
                        done[1] += len(await cur.fetchall())
                        done[0] += 1

            await asyncio.gather(*(worker() for _ in range(conns)))
            return done[0], done[1], time.perf_counter() - start

        queries, buckets, elapsed = asyncio.run(run())
    return {
        "queries": queries,
        "seconds": elapsed,
        "queries_per_s": queries / elapsed,
        "buckets_per_query": buckets / max(queries, 1),
        "connections": conns,
    }


# --- loading -----------------------------------------------------------------------------------


def load_history(backend: Backend, env: dict[str, str], entities: int, instances: int) -> float:
    """entities x instances history rows of 'temperature', in-process through Tx.append_history."""
    from smartseoul.hub.store.base import HistoryRow, TemporalEntityRow
    from smartseoul.hub.temporal import stamp

    async def run() -> float:
        store = backend.store(env)
        await store.open()
        start = time.perf_counter()
        try:
            per_tx = max(1, 20_000 // instances)
            for first in range(0, entities, per_tx):
                rows = []
                temporal = []
                for e in range(first, min(first + per_tx, entities)):
                    eid = entity_id("h", e)
                    temporal.append(
                        TemporalEntityRow(eid, [TYPE_IRI], [], T0, T0 + STEP * instances)
                    )
                    for k in range(instances):
                        t = T0 + k * STEP
                        value = round(15 + 10 * ((e * 31 + k * 7) % 100) / 100, 2)
                        text = stamp(t)
                        rows.append(
                            HistoryRow(
                                entity_id=eid,
                                attr=TEMPERATURE_IRI,
                                instance_id=f"urn:ngsi-ld:attribute:instance:{e:06d}-{k:06d}",
                                dataset_id="",
                                observed_at=t,
                                modified_at=t,
                                num=value,
                                data={
                                    "type": "Property",
                                    "value": value,
                                    "unitCode": "CEL",
                                    "observedAt": text,
                                    "createdAt": text,
                                    "modifiedAt": text,
                                },
                            )
                        )
                async with store.transaction("") as tx:
                    await tx.append_history(rows)
                    await tx.upsert_temporal_entities(temporal)
        finally:
            await store.close()
        return time.perf_counter() - start

    return asyncio.run(run())


def http_get(server: Server, path: str) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(server.url(path), headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()[:500]


# --- phases ------------------------------------------------------------------------------------


def baselines(cfg: Config) -> dict[str, dict[str, Any]]:
    log("\n== baseline: bare Starlette app under the same uvicorn configuration")
    out: dict[str, dict[str, Any]] = {}
    common = {
        "warmup": cfg.warmup,
        "duration": cfg.duration,
        "concurrency": cfg.concurrency,
        "tag": "bare",
    }
    with Server("bare_app", {}, cfg.workdir, "bare") as srv:
        out["post"] = client(srv, {**common, "mode": "create", "expect": [201]})
        log(f"  POST  {out['post']['requests_per_s']:>10,.0f} req/s   ({cpu_note(out['post'])})")
        out["patch"] = client(srv, {**common, "mode": "patch", "pool": 1000, "expect": [204]})
        log(f"  PATCH {out['patch']['requests_per_s']:>10,.0f} req/s   ({cpu_note(out['patch'])})")
        out["get"] = client(
            srv,
            {
                "mode": "get",
                "warmup": cfg.warmup,
                "duration": cfg.latency_duration,
                "concurrency": 1,
                "path": f"{API}/entities?type={TYPE}",
                "expect": [200],
            },
        )
        log(
            f"  GET   p50 {out['get']['p50_ms']:.2f} ms  p95 {out['get']['p95_ms']:.2f} ms (1 connection, "
            "20 entities of JSON)"
        )
    return out


def phase_create(be: Backend, cfg: Config, base: dict[str, Any]) -> list[Result]:
    env = be.fresh("create")
    try:
        with Server("hub_app", env, cfg.workdir, f"{be.name}-create") as srv:
            r = client(
                srv,
                {
                    "mode": "create",
                    "warmup": cfg.warmup,
                    "duration": cfg.duration,
                    "concurrency": cfg.concurrency,
                    "tag": uuid.uuid4().hex[:8],
                    "expect": [201],
                },
                cfg.profile,
                f"{be.name}-create",
            )
    finally:
        be.done(env)
    log(
        f"  1. creates/s        {r['requests_per_s']:>10,.0f}   p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms"
        f"  ({cpu_note(r)})"
    )
    return [
        Result(
            "1. single creates (POST /entities)",
            "create",
            be.name,
            r["requests_per_s"],
            "creates/s",
            base["post"]["requests_per_s"],
            "req/s",
            "bare app POST",
            detail={"hub": r, "bare": base["post"]},
        )
    ]


def phase_batch(be: Backend, cfg: Config) -> list[Result]:
    env = be.fresh("batch")
    try:
        with Server("hub_app", env, cfg.workdir, f"{be.name}-batch") as srv:
            r = client(
                srv,
                {
                    "mode": "batch",
                    "operation": "create",
                    "warmup": cfg.warmup,
                    "duration": cfg.duration,
                    "concurrency": min(cfg.concurrency, 4),
                    "tag": uuid.uuid4().hex[:8],
                    "expect": [201],
                },
                cfg.profile,
                f"{be.name}-batch",
            )
        plain = plain_executemany(be, env, cfg.duration)
    finally:
        be.done(env)
    log(
        f"  2. entities/s (batches of {BATCH}) {r['items_per_s']:>10,.0f}   p50 {r['p50_ms']:.1f} ms per batch"
        f"  ({cpu_note(r)})"
    )
    log(f"     plain executemany {plain['rows_per_s']:>10,.0f} rows/s")
    return [
        Result(
            f"2. batch create ({BATCH}/request)",
            "batch",
            be.name,
            r["items_per_s"],
            "entities/s",
            plain["rows_per_s"],
            "rows/s",
            "plain executemany (id, json)",
            detail={"hub": r, "plain": plain},
        )
    ]


def phase_patch(be: Backend, cfg: Config, base: dict[str, Any]) -> list[Result]:
    env = be.fresh("patch")
    pool = 1000
    tag = uuid.uuid4().hex[:8]
    try:
        with Server("hub_app", env, cfg.workdir, f"{be.name}-patch") as srv:
            client(
                srv,
                {
                    "mode": "load",
                    "operation": "upsert",
                    "start": 0,
                    "end": pool,
                    "concurrency": 2,
                    "tag": tag,
                    "expect": [201, 204],
                },
            )
            r = client(
                srv,
                {
                    "mode": "patch",
                    "warmup": cfg.warmup,
                    "duration": cfg.duration,
                    "pool": pool,
                    "concurrency": cfg.concurrency,
                    "tag": tag,
                    "expect": [204],
                },
                cfg.profile,
                f"{be.name}-patch",
            )
    finally:
        be.done(env)
    log(
        f"  3. updates/s        {r['requests_per_s']:>10,.0f}   p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms"
        f"  ({cpu_note(r)})"
    )
    return [
        Result(
            "3. attribute updates (PATCH .../attrs)",
            "patch",
            be.name,
            r["requests_per_s"],
            "updates/s",
            base["patch"]["requests_per_s"],
            "req/s",
            "bare app PATCH",
            detail={"hub": r, "bare": base["patch"], "entities": pool},
        )
    ]


GET_QUERIES = [
    # key, label, query string
    ("q1", "q=temperature>99 (~1%)", f"type={TYPE}&q=temperature%3E99"),
    ("type", "type only (all match)", f"type={TYPE}"),
    ("q1_count", "q=temperature>99 &count=true", f"type={TYPE}&q=temperature%3E99&count=true"),
    ("type_count", "type only &count=true", f"type={TYPE}&count=true"),
]


def phase_get(be: Backend, cfg: Config, base: dict[str, Any]) -> list[Result]:
    env = be.fresh("get")
    tag = uuid.uuid4().hex[:8]
    results = []
    loaded = 0
    try:
        for size in cfg.sizes:
            with Server("hub_app", env, cfg.workdir, f"{be.name}-get-{size}") as srv:
                t = time.perf_counter()
                load = client(
                    srv,
                    {
                        "mode": "load",
                        "operation": "upsert",
                        "start": loaded,
                        "end": size,
                        "concurrency": 2,
                        "tag": tag,
                        "expect": [201, 204],
                    },
                )
                loaded = size
                log(
                    f"  loaded {size:,} entities ({load['items_per_s']:,.0f} entities/s by batch upsert, "
                    f"{time.perf_counter() - t:.1f} s)"
                )
            be.analyze(env)
            with Server("hub_app", env, cfg.workdir, f"{be.name}-get-{size}") as srv:
                for key, label, qs in GET_QUERIES:
                    path = f"{API}/entities?{qs}"
                    status, headers, body = http_get(srv, path)
                    returned = len(body) if isinstance(body, list) else None
                    total = headers.get("NGSILD-Results-Count") or headers.get(
                        "ngsild-results-count"
                    )
                    if status != 200:
                        log(f"    ! {path} answered {status}: {body!r:.300}")
                    r = client(
                        srv,
                        {
                            "mode": "get",
                            "path": path,
                            "warmup": cfg.warmup,
                            "duration": cfg.latency_duration,
                            "concurrency": 1,
                            "expect": [200],
                            "min_requests": 20,
                        },
                        cfg.profile,
                        f"{be.name}-get-{size}-{key}",
                    )
                    log(
                        f"  4. GET {label:<30} at {size:>7,}: p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms"
                        f"  ({r['requests']} requests, {r['requests_per_s']:,.1f}/s sequential; {returned} returned"
                        + (f", count {total}" if total else "")
                        + ")"
                    )
                    tkey = (
                        "get_p95_100k"
                        if size == 100_000 and key in ("q1", "type")
                        else f"get_{key}"
                    )
                    results.append(
                        Result(
                            f"4. GET {label} @{size // 1000}k p95",
                            tkey,
                            be.name,
                            r["p95_ms"],
                            "ms",
                            base["get"]["p95_ms"],
                            "ms",
                            "bare app GET p95",
                            higher_is_better=False,
                            detail={
                                "hub": r,
                                "bare": base["get"],
                                "entities": size,
                                "returned": returned,
                                "count": total,
                                "query": path,
                                "p50_ms": r["p50_ms"],
                            },
                        )
                    )
    finally:
        be.done(env)
    return results


def phase_temporal(be: Backend, cfg: Config) -> list[Result]:
    env = be.fresh("temporal")
    n, k = cfg.history_entities, cfg.history_instances
    path = (
        f"{API}/temporal/entities/{{id}}?attrs=temperature&options=aggregatedValues"
        "&aggrMethods=avg,min,max&aggrPeriodDuration=PT1H"
    )
    try:
        secs = load_history(be, env, n, k)
        log(
            f"  loaded {n * k:,} history rows ({n:,} entities x {k:,} instances, every {STEP / 60:.0f} min) "
            f"in {secs:.1f} s through Tx.append_history"
        )
        be.analyze(env)
        with Server("hub_app", env, cfg.workdir, f"{be.name}-temporal") as srv:
            status, _, body = http_get(srv, path.replace("{id}", entity_id("h", 0)))
            periods = (
                len(body.get("temperature", {}).get("avg", [])) if isinstance(body, dict) else None
            )
            if status != 200 or not periods:
                log(f"    ! aggregation answered {status}: {body!r:.300}")
            r = client(
                srv,
                {
                    "mode": "temporal",
                    "path": path,
                    "pool": n,
                    "warmup": cfg.warmup,
                    "duration": cfg.duration,
                    "concurrency": cfg.concurrency,
                    "tag": "h",
                    "expect": [200],
                },
                cfg.profile,
                f"{be.name}-temporal",
            )
        plain = plain_group_by(be, env, cfg, cfg.duration)
    finally:
        be.done(env)
    log(
        f"  5. temporal aggregation {r['requests_per_s']:>8,.0f} queries/s   p50 {r['p50_ms']:.1f} ms, "
        f"p95 {r['p95_ms']:.1f} ms; {periods} hourly periods x avg,min,max per answer  ({cpu_note(r)})"
    )
    log(
        f"     plain SQL GROUP BY {plain['queries_per_s']:>8,.0f} queries/s ({plain['connections']} connection(s), "
        f"{plain['buckets_per_query']:.0f} groups per query)"
    )
    return [
        Result(
            "5. temporal aggregation (avg,min,max PT1H)",
            "temporal",
            be.name,
            r["requests_per_s"],
            "queries/s",
            plain["queries_per_s"],
            "queries/s",
            "plain SQL GROUP BY",
            detail={"hub": r, "plain": plain, "history_rows": n * k, "periods": periods},
        )
    ]


# --- report ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(Exception):
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    mem = ""
    with contextlib.suppress(Exception):
        kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    pg = ""
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(PG_URL_DEFAULT, connect_timeout=3) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    import sqlite3

    # A fixed pure-Python loop, to compare this machine's single-core speed with others'.
    start = time.perf_counter()
    x = 0
    for i in range(5_000_000):
        x += i
    loop = time.perf_counter() - start
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python_loop_5M_s": round(loop, 3),
        "memory": mem,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": pg,
        "platform": platform.platform(),
    }


def code_version(src: Path) -> str:
    """The git commit of ``src`` (and whether its tree has uncommitted changes), if any."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"git {sha}" + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        marker = src / "COMMIT"
        return marker.read_text().strip() if marker.exists() else "not a git tree"


def table(results: list[Result]) -> str:
    header = ("figure", "backend", "value", "baseline", "ratio", "target", "met")
    rows = []
    for r in results:
        target, met = r.target()
        if r.ratio is None:
            ratio = "-"
        elif r.higher_is_better:
            ratio = f"{r.ratio * 100:.1f}% of baseline"
        else:
            ratio = f"{r.ratio:.1f}x baseline"
        rows.append(
            (
                r.figure,
                r.backend,
                fmt(r.value, r.unit),
                fmt(r.baseline, r.baseline_unit) + f" ({r.baseline_what})",
                ratio,
                target,
                met,
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run (small data, ~1 s per figure)"
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of load per throughput figure (10; quick 2)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="client connections (16)")
    parser.add_argument(
        "--sizes", help="entity counts for the GET figure (1000,10000,100000; quick 1000,10000)"
    )
    parser.add_argument(
        "--history", help="ENTITIESxINSTANCES of history (1000x1000; quick 100x1000)"
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("SMARTSEOUL_BENCH_POSTGRES_URL", PG_URL_DEFAULT)
    )
    parser.add_argument(
        "--only", help="comma-separated figures to run: create,batch,patch,get,temporal"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument(
        "--py-spy", type=Path, help="record py-spy raw profiles of the server into this folder"
    )
    parser.add_argument(
        "--workdir", type=Path, help="folder for SQLite files and logs (a temporary one)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the SQLite files (in --workdir) and PostgreSQL schemas for inspection",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=30.0,
        help="before each measured figure, wait up to this many seconds for other load to stop (30)",
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=ROOT / "src",
        help="smartseoul sources to benchmark, e.g. an exported commit (default: this tree's src)",
    )
    args = parser.parse_args(argv)
    WAIT_IDLE["seconds"] = args.wait_idle
    SRC["path"] = args.src.resolve()
    sys.path.insert(0, str(SRC["path"]))

    quick = args.quick
    duration = args.duration or (2.0 if quick else 10.0)
    sizes = [
        int(s) for s in (args.sizes or ("1000,10000" if quick else "1000,10000,100000")).split(",")
    ]
    hist = (args.history or ("100x1000" if quick else "1000x1000")).lower().split("x")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smartseoul-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = Config(
        backends=["sqlite", "postgres"] if args.backend == "both" else [args.backend],
        quick=quick,
        duration=duration,
        warmup=0.5 if quick else 1.0,
        latency_duration=1.0 if quick else 3.0,
        concurrency=args.concurrency,
        sizes=sizes,
        history_entities=int(hist[0]),
        history_instances=int(hist[1]),
        pg_url=args.pg_url,
        workdir=workdir,
        profile=Profiler(args.py_spy) if args.py_spy else None,
        keep=args.keep,
    )
    only = set((args.only or "create,batch,patch,get,temporal").split(","))
    info = machine()
    log(
        "smartseoul hub benchmark"
        + (" (QUICK smoke run: small data, short windows; not reference figures)" if quick else "")
    )
    log(
        f"machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM; Python {info['python']}, "
        f"SQLite {info['sqlite']}, PostgreSQL {info['postgres'] or '-'}"
    )
    log(
        f"single-core speed: a 5M-iteration Python loop (x += i) takes {info['python_loop_5M_s']:.2f} s here"
    )
    log(
        f"NOTE: the load client and the server (and PostgreSQL) share these {info['nproc']} cores; "
        "the figures are for the whole machine, client included."
    )
    log(
        f"server: uvicorn, 1 worker, uvloop + httptools, 127.0.0.1; client: {cfg.concurrency} keep-alive "
        f"connections in a separate process ({cfg.warmup:g} s warm-up, {cfg.duration:g} s measured per figure; "
        f"GET latency with 1 connection for {cfg.latency_duration:g} s)"
    )
    log(f"code: {SRC['path']} ({code_version(SRC['path'])})")
    log(f"workdir: {workdir}")
    b0 = _machine_busy()
    time.sleep(1.0)
    b1 = _machine_busy()
    idle_busy = (b1[0] - b0[0]) / max(b1[1] - b0[1], 1e-9)
    log(
        f"machine before start: {idle_busy * 100:.0f}% busy"
        + (" - WARNING: not idle, figures will be low" if idle_busy > 0.1 else "")
    )

    results: list[Result] = []
    failures: list[str] = []
    backends = [Backend(name, cfg) for name in cfg.backends]
    try:
        base = baselines(cfg) if only & {"create", "patch", "get"} else {}
        phases = {
            "create": lambda be: phase_create(be, cfg, base),
            "batch": lambda be: phase_batch(be, cfg),
            "patch": lambda be: phase_patch(be, cfg, base),
            "get": lambda be: phase_get(be, cfg, base),
            "temporal": lambda be: phase_temporal(be, cfg),
        }
        for be in backends:
            log(f"\n== {be.name}")
            for name, phase in phases.items():
                if name in only:
                    try:
                        results += phase(be)
                    except Exception as exc:  # one broken figure must not lose the others
                        log(f"  ! figure {name} on {be.name} failed: {type(exc).__name__}: {exc}")
                        failures.append(f"{name}/{be.name}")
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        for be in backends:
            be.cleanup()
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    log("\n== results" + (" (QUICK run)" if quick else ""))
    log("ratio: throughput as a share of its baseline; latency as a multiple of the bare app's.")
    log(table(results))
    if failures:
        log(f"FAILED figures: {', '.join(failures)}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": info,
            "code": code_version(SRC["path"]),
            "quick": quick,
            "concurrency": cfg.concurrency,
            "duration_s": duration,
            "sizes": sizes,
            "history": {"entities": cfg.history_entities, "instances": cfg.history_instances},
            "results": [
                {**asdict(r), "ratio": r.ratio, "target": r.target()[0], "met": r.target()[1]}
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        log(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_main()
    else:
        sys.exit(main())
