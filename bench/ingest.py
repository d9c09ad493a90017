"""Benchmark of device ingestion: S-DoT messages through MQTT into the hub, and notifications.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/ingest.py                        # SQLite and PostgreSQL
    .venv/bin/python bench/ingest.py --backend sqlite --quick
    .venv/bin/python bench/ingest.py --devices 2200 --rate 2000 --seconds 30 --json var/ingest.json

Figures, each next to a baseline measured in the same run on the same broker:

1. measurements/s that landed in the store (counted by querying its history table at the
   end), S-DoT messages of 11 measurements published over the real Mosquitto by many
   simulated devices, the hub running as a server process with its IoT agent on MQTT
   vs a bare paho-mqtt publish -> subscribe of the same messages (messages/s x 11)
2. notification latency p50/p95 under that load: an NGSI-LD subscription with an HTTP
   endpoint on the temperature of some of the devices; latency = receive time minus the
   ``observedAt`` the device stamped at publish time
   vs the bare publish -> subscribe latency of the same messages

The hub is ``python -m uvicorn --factory --app-dir bench ingest:ingest_app`` with the
``smartseoul serve`` configuration (1 worker, uvloop, httptools); its app is ``create_app``
whose IoT agent listens on a topic prefix of its own (the broker may be shared). Publishers
and the baseline subscriber are separate processes (``ingest.py _publish`` /
``ingest.py _subscribe``, spec on stdin). It is not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from hub import _cpu_ticks, _machine_busy, _postgres_cpu, free_port, wait_idle  # noqa: E402

PG_URL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
MQTT_URL_DEFAULT = "mqtt://127.0.0.1:1883"
APIKEY = "bench"
MEASURES = 11  # an S-DoT message carries 11 measurements
ENV_TYPE = "https://smartdatamodels.org/dataModel.Environment/EnvironmentObserved"
TEMPERATURE = "https://smartdatamodels.org/dataModel.Environment/temperature"
TARGET = {"measurements_per_s": 10_000, "notification_p95_ms": 200}


# =============================================================================================
# The hub app (imported by uvicorn as ingest:ingest_app)
# =============================================================================================


def ingest_app() -> Any:
    """``create_app`` on the BENCH_* store; its IoT agent listens on BENCH_TOPIC_PREFIX."""
    from smartseoul.app import create_app
    from smartseoul.config import Settings

    settings = Settings(data_dir=Path(os.environ["BENCH_DATA_DIR"]), log_level="WARNING")
    store: Any
    if os.environ["BENCH_BACKEND"] == "postgres":
        from smartseoul.hub.store.postgres import PostgresStore

        store = PostgresStore(
            os.environ["BENCH_PG_URL"],
            schema=os.environ["BENCH_PG_SCHEMA"],
            pool_size=settings.postgres_pool_size,
        )
    else:
        from smartseoul.hub.store.sqlite import SqliteStore

        store = SqliteStore(os.environ["BENCH_SQLITE_PATH"])
    app = create_app(settings, store=store)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            agent = a.state.iot_agent
            agent.topic_prefix = os.environ["BENCH_TOPIC_PREFIX"]  # this run's topics only
            # As `serve` listens: acknowledgements after the write, a session kept for a restart.
            from smartseoul.ingest.mqtt_listener import claim_session

            client_id, agent.session_lock = claim_session(
                settings.data_dir / "mqtt", store.location()
            )
            await agent.listen(
                os.environ["BENCH_MQTT_URL"], shared_group="smartseoul-iot",
                client_id=client_id, session_expiry=settings.iot_mqtt_session_expiry,
            )  # fmt: skip
            async with _server_diagnostics(Path(os.environ["BENCH_DATA_DIR"]) / "diag.json"):
                yield state

    app.router.lifespan_context = lifespan
    return app


@asynccontextmanager
async def _server_diagnostics(path: Path) -> AsyncIterator[None]:
    """In the hub process: event-loop lag (a 10 ms timer's overshoot) and the pauses of the
    cycle collector's full passes, written to ``path`` when the server stops."""
    import asyncio
    import gc

    pauses: list[float] = []
    lags: list[float] = []
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2:
            pauses.append(time.perf_counter() - started[0])

    async def probe() -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t - 0.01)

    gc.callbacks.append(on_gc)
    task = asyncio.create_task(probe())
    try:
        yield
    finally:
        task.cancel()
        gc.callbacks.remove(on_gc)
        path.write_text(json.dumps({"gc_full_pauses": pauses, "loop_lags": lags}))


def read_diagnostics(path: Path) -> dict[str, Any]:
    """Loop lag percentiles and full-collection pauses (ms) from ``_server_diagnostics``."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    lags, pauses = data["loop_lags"], data["gc_full_pauses"]
    return {
        "loop_lag_ms": {f"p{q}": round((pct(lags, q) or 0) * 1000, 1) for q in (50, 95, 99)}
        | {"max": round(max(lags, default=0) * 1000, 1)},
        "gc_full": {"count": len(pauses), "max_ms": round(max(pauses, default=0) * 1000, 1),
                    "total_ms": round(sum(pauses) * 1000)},
    }  # fmt: skip


# =============================================================================================
# Publisher and bare subscriber (separate processes, spec on stdin, JSON result on stdout)
# =============================================================================================


def _mqtt_client(url: str) -> Any:
    import paho.mqtt.client as mqtt

    parts = urlsplit(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, 30)
    return client


def publish_main() -> None:
    """Publish S-DoT messages at ``rate`` per second, round robin over the devices."""
    import random

    import orjson

    from smartseoul.ingest.simulator import SimulatedSensor, sdot_reading

    spec = json.loads(sys.stdin.readline())
    client = _mqtt_client(spec["mqtt_url"])
    client.loop_start()
    devices, rate, qos = spec["devices"], spec["rate"], spec["qos"]
    sensors = [SimulatedSensor(d, "11110", 126.98, 37.57, 40.0, 25.0) for d in devices]
    rng = random.Random(1)
    # A pool of readings, restamped per message: generating each costs more than publishing.
    pool = [sdot_reading(sensors[i % len(sensors)], time.time() + i * 60, rng) for i in range(512)]
    prefix = spec["prefix"]
    topics = [f"{prefix}/{APIKEY}/{d}/attrs" for d in devices]
    start = time.time() + 0.2
    end = start + spec["seconds"]
    window = (start + spec["warmup"], end)
    sent = sent_in_window = 0
    last = None
    cpu0 = time.process_time()
    while True:
        now = time.time()
        if now >= end:
            break
        due = int((now - start) * rate) if now >= start else 0
        while sent < due:
            body = dict(pool[sent % len(pool)])
            body["ts"] = ms = round(time.time() * 1000)
            stamp = ms / 1000  # the observedAt the hub will store
            last = client.publish(topics[sent % len(topics)], orjson.dumps(body), qos)
            if window[0] <= stamp < window[1]:
                sent_in_window += 1
            sent += 1
        time.sleep(0.002)
    cpu = time.process_time() - cpu0
    if qos and last is not None:
        last.wait_for_publish(10)  # the broker has every message (acknowledged in order)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"sent": sent, "sent_in_window": sent_in_window, "window": window,
                      "cpu": cpu}))  # fmt: skip


def subscribe_main() -> None:
    """The baseline: a bare paho subscriber recording receive time minus the stamped ``ts``."""
    spec = json.loads(sys.stdin.readline())
    import orjson

    client = _mqtt_client(spec["mqtt_url"])
    latencies: list[float] = []
    stamps: list[float] = []
    ready = threading.Event()

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        ts = orjson.loads(message.payload)["ts"] / 1000
        stamps.append(ts)
        latencies.append(now - ts)

    client.on_message = on_message
    client.on_subscribe = lambda *a: ready.set()
    client.subscribe(f"{spec['prefix']}/+/+/attrs", qos=spec["qos"])
    client.loop_start()
    ready.wait(10)
    print("ready", flush=True)
    sys.stdin.readline()  # the orchestrator says when to stop
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"stamps": stamps, "latencies": latencies}))


# =============================================================================================
# Orchestration
# =============================================================================================


def log(message: str) -> None:
    print(message, flush=True)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def _pids_named(name: str) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry.name}/comm").read_text().strip() == name:
                    out.append(int(entry.name))
    return out


class CpuMeter:
    """CPU seconds of the hub server, publishers, Mosquitto, PostgreSQL and the machine."""

    def __init__(self, server: int | None, publishers: list[int]):
        self.server, self.publishers = server, publishers
        self.mosquitto = _pids_named("mosquitto")

    def sample(self) -> dict[str, float]:
        def ticks(pids: list[int]) -> float:
            return sum(_cpu_ticks(p) or 0.0 for p in pids)

        busy, total = _machine_busy()
        return {
            "wall": time.perf_counter(),
            "server": (_cpu_ticks(self.server) or 0.0) if self.server else 0.0,
            "publishers": ticks(self.publishers),
            "mosquitto": ticks(self.mosquitto),
            "postgres": _postgres_cpu(),
            "bench": time.process_time(),
            "busy": busy,
            "total": total,
        }

    @staticmethod
    def cores(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        wall = max(b["wall"] - a["wall"], 1e-9)
        out = {
            k: round((b[k] - a[k]) / wall, 2)
            for k in ("server", "publishers", "mosquitto", "postgres", "bench")
        }
        out["machine"] = round((b["busy"] - a["busy"]) / wall, 2)
        out["other"] = round(out["machine"] - sum(v for k, v in out.items() if k != "machine"), 2)
        return out


def cpu_text(cores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items()) + " (cores)"


class Server:
    """The hub as ``python -m uvicorn --factory ingest:ingest_app`` (serve configuration)."""

    def __init__(self, env: dict[str, str], logfile: Path):
        self.env, self.logfile, self.port = env, logfile, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "--app-dir", str(HERE),
               "ingest:ingest_app", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
               "--no-server-header", "--log-level", "warning", "--lifespan", "on"]  # fmt: skip
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT / "src")}
        self._log = open(self.logfile, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.logfile.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(self.url("/health"), timeout=5) as r,
            ):
                if r.status == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"hub did not start: {self.logfile.read_text()[-2000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            return json.loads(raw) if raw else None


class NotificationReceiver:
    """An HTTP endpoint for notifications: latency = receive time - observedAt of temperature."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (observedAt, latency)
        self.notifications = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                now = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.notifications += 1
                for entity in body.get("data", []):
                    attr = entity.get(TEMPERATURE)
                    if isinstance(attr, dict) and "observedAt" in attr:
                        observed = datetime.fromisoformat(attr["observedAt"].replace("Z", "+00:00"))
                        receiver.samples.append((observed.timestamp(), now - observed.timestamp()))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NotificationReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def spawn(role: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, __file__, role], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    return proc


def publishers(spec: dict[str, Any], count: int) -> list[subprocess.Popen[str]]:
    """``count`` publisher processes splitting the devices and the rate."""
    devices = spec["devices"]
    return [
        spawn("_publish", {**spec, "devices": devices[i::count], "rate": spec["rate"] / count})
        for i in range(count)
    ]


def collect(procs: list[subprocess.Popen[str]]) -> dict[str, Any]:
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {
        "sent": sum(r["sent"] for r in results),
        "sent_in_window": sum(r["sent_in_window"] for r in results),
        "window": (min(r["window"][0] for r in results), max(r["window"][1] for r in results)),
        "cpu": sum(r["cpu"] for r in results),
    }


def run_baseline(args: argparse.Namespace, devices: list[str]) -> dict[str, Any]:
    """Bare paho publish -> subscribe on the same broker, the same messages and rate."""
    prefix = f"bench-bare-{uuid.uuid4().hex[:8]}"
    sub = spawn("_subscribe", {"mqtt_url": args.mqtt_url, "prefix": prefix, "qos": args.qos})
    assert sub.stdout is not None
    sub.stdout.readline()  # "ready"
    spec = {"mqtt_url": args.mqtt_url, "prefix": prefix, "devices": devices, "rate": args.rate,
            "seconds": args.warmup + args.seconds, "warmup": args.warmup, "qos": args.qos}  # fmt: skip
    procs = publishers(spec, args.publishers)
    meter = CpuMeter(sub.pid, [p.pid for p in procs])
    time.sleep(args.warmup + 0.2)
    c0 = meter.sample()
    time.sleep(args.seconds)
    c1 = meter.sample()
    pub = collect(procs)
    out, _ = sub.communicate("stop\n", timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    w0, w1 = pub["window"]
    inside = [
        lat for ts, lat in zip(result["stamps"], result["latencies"], strict=True) if w0 <= ts < w1
    ]
    cores = CpuMeter.cores(c0, c1)
    cores["subscriber"] = cores.pop("server")
    return {
        "published_in_window": pub["sent_in_window"],
        "received_in_window": len(inside),
        "messages_per_s": len(inside) / (w1 - w0),
        "measurements_per_s": len(inside) * MEASURES / (w1 - w0),
        "p50_ms": (pct(inside, 50) or 0) * 1000,
        "p95_ms": (pct(inside, 95) or 0) * 1000,
        "cpu": cores,
    }


def count_landed(backend: str, env: dict[str, str], w0: float, w1: float) -> int:
    """History rows (one per measurement) observed in the window, read from the store itself."""
    sql = "SELECT count(*) FROM history WHERE observed_at >= {p} AND observed_at < {p}"
    if backend == "sqlite":
        import sqlite3

        with contextlib.closing(sqlite3.connect(env["BENCH_SQLITE_PATH"], timeout=30)) as conn:
            return int(conn.execute(sql.format(p="?"), (w0, w1)).fetchone()[0])
    import psycopg

    with psycopg.connect(env["BENCH_PG_URL"]) as conn:
        conn.execute(f'SET search_path TO "{env["BENCH_PG_SCHEMA"]}"')
        row = conn.execute(sql.format(p="%s"), (w0, w1)).fetchone()
        assert row is not None
        return int(row[0])


def run_hub(
    args: argparse.Namespace, backend: str, devices: list[str], workdir: Path
) -> dict[str, Any]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    env = {"BENCH_BACKEND": backend, "BENCH_DATA_DIR": str(workdir), "BENCH_MQTT_URL": args.mqtt_url,
           "BENCH_TOPIC_PREFIX": prefix, "SMARTSEOUL_LOG_JSON": "false"}  # fmt: skip
    if backend == "sqlite":
        env["BENCH_SQLITE_PATH"] = str(workdir / f"ingest-{os.getpid()}.db")
    else:
        env["BENCH_PG_URL"] = args.pg_url
        env["BENCH_PG_SCHEMA"] = f"bench_ingest_{os.getpid()}"
    result: dict[str, Any] = {"backend": backend}
    try:
        with (
            Server(env, workdir / f"server-ingest-{backend}.log") as server,
            NotificationReceiver() as receiver,
        ):
            interval = len(devices) / args.rate
            for i in range(0, len(devices), 500):
                specs = [{"id": d, "apikey": APIKEY, "profile": "sdot", "interval": interval}
                         for d in devices[i : i + 500]]  # fmt: skip
                server.request("POST", "/iot/devices", {"devices": specs})
            server.request("POST", "/ngsi-ld/v1/subscriptions", {
                "type": "Subscription",
                "entities": [{"type": ENV_TYPE, "idPattern": "^urn:ngsi-ld:EnvironmentObserved:sdot:W"}],
                "watchedAttributes": [TEMPERATURE],
                "notification": {"attributes": [TEMPERATURE], "format": "normalized",
                                 "endpoint": {"uri": f"http://127.0.0.1:{receiver.port}/notify",
                                              "accept": "application/json"}},
            })  # fmt: skip
            if args.wait_idle:
                wait_idle(args.wait_idle)
            spec = {"mqtt_url": args.mqtt_url, "prefix": prefix, "devices": devices,
                    "rate": args.rate, "seconds": args.warmup + args.seconds,
                    "warmup": args.warmup, "qos": args.qos}  # fmt: skip
            procs = publishers(spec, args.publishers)
            assert server.proc is not None
            meter = CpuMeter(server.proc.pid, [p.pid for p in procs])
            profiler = None
            if args.py_spy:
                args.py_spy.mkdir(parents=True, exist_ok=True)
                out = args.py_spy / f"ingest-{backend}.txt"
                profiler = subprocess.Popen(
                    [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
                     "-p", str(server.proc.pid), "-d", str(int(args.seconds)), "-r", "200",
                     "-f", "raw", "-o", str(out), "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            time.sleep(args.warmup + 0.2)
            c0 = meter.sample()
            time.sleep(args.seconds)
            c1 = meter.sample()
            pub = collect(procs)
            w0, w1 = pub["window"]
            # Drain: poll the store until every measurement of the window landed (or nothing
            # landed for 10 s); the last growth is when the window's last measurement landed.
            expected = pub["sent_in_window"] * MEASURES
            landed, last_growth = 0, time.time()
            while landed < expected and time.time() - last_growth < 10 and time.time() - w1 < 300:
                count = count_landed(backend, env, w0, w1)
                if count != landed:
                    landed, last_growth = count, time.time()
                time.sleep(0.05)
            stats = server.request("GET", "/iot/stats")
            if profiler is not None:
                profiler.wait(60)
            time.sleep(1.0)  # notifications of the last writes
            samples = [lat for observed, lat in receiver.samples if w0 <= observed < w1]
            span = max(w1 - w0, last_growth - w0)
            result.update({
                "published_in_window": pub["sent_in_window"],
                "offered_measurements_per_s": pub["sent_in_window"] * MEASURES / (w1 - w0),
                "landed_measurements": landed,
                "expected_measurements": pub["sent_in_window"] * MEASURES,
                "drain_s": round(max(0.0, last_growth - w1), 2),
                "measurements_per_s": landed / span,
                "notifications": len(samples),
                "p50_ms": (pct(samples, 50) or 0) * 1000,
                "p95_ms": (pct(samples, 95) or 0) * 1000,
                "agent": {k: stats[k] for k in ("messages", "measurements", "batches", "entitiesWritten")},
                "rejected": {k: v for k, v in stats["rejected"].items() if v},
                "cpu": CpuMeter.cores(c0, c1),
            })  # fmt: skip
        result.update(read_diagnostics(workdir / "diag.json"))  # written as the server stopped
    finally:
        if backend == "postgres" and not args.keep:
            import psycopg

            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{env["BENCH_PG_SCHEMA"]}" CASCADE')
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured window (default 20, quick 5)"
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="load before the window (default 3, quick 1)"
    )
    parser.add_argument("--devices", type=int, default=1100, help="simulated S-DoT devices")
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="messages/s offered (x11 measurements)"
    )
    parser.add_argument("--watched", type=int, default=50, help="devices the subscription watches")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    parser.add_argument("--qos", type=int, choices=[0, 1], default=1, help="publish QoS")
    parser.add_argument("--quick", action="store_true", help="smoke run: short windows")
    parser.add_argument(
        "--mqtt-url", default=os.environ.get("SMARTSEOUL_BENCH_MQTT_URL", MQTT_URL_DEFAULT)
    )
    parser.add_argument(
        "--pg-url", default=os.environ.get("SMARTSEOUL_BENCH_POSTGRES_URL", PG_URL_DEFAULT)
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="record a py-spy profile of the hub per backend"
    )
    parser.add_argument(
        "--wait-idle", type=float, default=30.0, help="wait up to S s for an idle machine"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    args = parser.parse_args()
    args.seconds = args.seconds or (5.0 if args.quick else 20.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    watched = min(args.watched, args.devices)
    devices = [f"W{i:05d}" for i in range(watched)] + [
        f"B{i:05d}" for i in range(args.devices - watched)
    ]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smartseoul-ingest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    log(f"smartseoul ingest bench: {commit or '?'} (+ working tree), {platform.python_version()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.devices} S-DoT devices, "
        f"{args.rate:g} messages/s offered ({args.rate * MEASURES:,.0f} measurements/s), "
        f"QoS {args.qos}, {args.seconds:g} s window after {args.warmup:g} s warm-up, "
        f"{watched} devices watched by a subscription; broker {args.mqtt_url}")  # fmt: skip
    report: dict[str, Any] = {"commit": commit, "args": {k: str(v) for k, v in vars(args).items()}}
    if args.wait_idle:
        wait_idle(args.wait_idle)
    base = run_baseline(args, devices)
    report["baseline"] = base
    log(f"\nbaseline  bare paho publish -> subscribe: {base['messages_per_s']:,.0f} messages/s "
        f"({base['measurements_per_s']:,.0f} measurements/s), {base['received_in_window']}/"
        f"{base['published_in_window']} received; latency p50 {base['p50_ms']:.1f} ms, "
        f"p95 {base['p95_ms']:.1f} ms\n          CPU: {cpu_text(base['cpu'])}")  # fmt: skip
    for backend in backends:
        r = run_hub(args, backend, devices, workdir)
        report[backend] = r
        ok_rate = r["measurements_per_s"] >= TARGET["measurements_per_s"]
        ok_p95 = r["p95_ms"] < TARGET["notification_p95_ms"]
        log(f"\n{backend:9} measurements landed: {r['measurements_per_s']:,.0f}/s "
            f"(ratio to baseline {r['measurements_per_s'] / max(base['measurements_per_s'], 1e-9):.2f}); "
            f"{r['landed_measurements']:,}/{r['expected_measurements']:,} of the window's "
            f"measurements in the store, last one {r['drain_s']:.2f} s after the window\n"
            f"          notification latency ({r['notifications']} samples): p50 {r['p50_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f} ms (ratio to baseline p95 {r['p95_ms'] / max(base['p95_ms'], 1e-9):.1f})\n"
            f"          agent: {r['agent']}, rejected {r['rejected'] or 'none'}\n"
            f"          hub event loop lag {r.get('loop_lag_ms')}, full GC passes {r.get('gc_full')}\n"
            f"          CPU: {cpu_text(r['cpu'])}")  # fmt: skip
        if backend == "sqlite":
            log(f"          target >= {TARGET['measurements_per_s']:,} measurements/s: "
                f"{'met' if ok_rate else 'MISSED'}; notification p95 < "
                f"{TARGET['notification_p95_ms']} ms: {'met' if ok_p95 else 'MISSED'}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_publish":
        publish_main()
    elif len(sys.argv) > 1 and sys.argv[1] == "_subscribe":
        subscribe_main()
    else:
        with contextlib.suppress(KeyboardInterrupt):
            main()
