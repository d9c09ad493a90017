"""Shared fixtures: real SQLite files, the real PostgreSQL, and a real HTTP server per backend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import uvicorn

from smartseoul.app import create_app
from smartseoul.config import Settings

POSTGRES_URL = os.environ.get(
    "SMARTSEOUL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("SMARTSEOUL_TEST_MQTT_HOST", "127.0.0.1")
REQUIRE = os.environ.get("SMARTSEOUL_REQUIRE_SERVICES") == "1"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def service_missing(reason: str) -> None:
    """Skip with a reason; in CI (SMARTSEOUL_REQUIRE_SERVICES=1) a missing service fails instead."""
    if REQUIRE:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


def require_mqtt() -> None:
    """Skip (fail in CI) unless Mosquitto answers at MQTT_HOST:1883."""
    try:
        socket.create_connection((MQTT_HOST, 1883), timeout=2).close()
    except OSError:
        service_missing(f"Mosquitto not reachable at {MQTT_HOST}:1883")


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_store(backend: str, tmp_path: Path):
    if backend == "sqlite":
        from smartseoul.hub.store.sqlite import SqliteStore

        return SqliteStore(tmp_path / "hub.db")
    if not postgres_available():
        service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}")
    from smartseoul.hub.store.postgres import PostgresStore

    return PostgresStore(POSTGRES_URL, schema=f"t_{uuid.uuid4().hex[:12]}", pool_size=4)


class Hub:
    """A running hub: base URL, an HTTP client and the backend name."""

    def __init__(self, base: str, backend: str, store, app=None):
        self.app = app
        self.base = base
        self.api = base + "/ngsi-ld/v1"
        self.backend = backend
        self.store = store
        self.http = httpx.Client(base_url=self.api, timeout=30)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


class RawAnswer:
    """One HTTP exchange on a raw socket, for peers that misbehave in ways no framework
    allows: read one request (headers, then a Content-Length body), send ``head`` at once,
    then ``length`` bytes of ``pattern`` repeated, ``chunk`` bytes at a time with ``pause``
    seconds between them, until done or the peer leaves. ``sent`` gets the bytes sent after
    ``head`` once the exchange is over; ``join`` waits for that."""

    def __init__(self, head: bytes, pattern: bytes, length: int, *, chunk: int = 65536,
                 pause: float = 0.0, path: str = "/"):  # fmt: skip
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"
        self.sent: list[int] = []
        self.pattern, self.chunk = pattern, chunk
        self.thread = threading.Thread(target=self._answer, args=(head, length, pause), daemon=True)
        self.thread.start()

    def _answer(self, head: bytes, length: int, pause: float) -> None:
        cycle = self.pattern * (self.chunk // len(self.pattern) + 2)  # any chunk at any offset
        conn, _ = self.listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            headers, _, received = request.partition(b"\r\n\r\n")
            for line in headers.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    while len(received) < int(line.split(b":")[1]):
                        received += conn.recv(65536)
            total = 0
            try:
                conn.sendall(head)
                while total < length:
                    start = total % len(self.pattern)
                    piece = cycle[start : start + min(self.chunk, length - total)]
                    total += conn.send(piece)
                    time.sleep(pause)
            except OSError:  # the peer closed the connection
                pass
            self.sent.append(total)
        self.listener.close()

    def join(self, timeout: float = 30) -> list[int]:
        self.thread.join(timeout)
        return self.sent


@contextmanager
def running(app, port: int) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:port in a thread; yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("hub server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class HubProcesses:
    """Hub server processes (``tests/hub/hub_process.py``) sharing one store (a SQLite file
    or a PostgreSQL schema of their own) and one data directory; ``env`` adds settings
    (``SMARTSEOUL_*``) to the processes' environment. For kill -9 and several workers."""

    def __init__(self, backend: str, tmp_path: Path, env: dict[str, str] | None = None):
        if backend == "postgres" and not postgres_available():
            service_missing(f"PostgreSQL not reachable at {POSTGRES_URL}")
        self.backend = backend
        self.target = (
            [str(tmp_path / "hub.db")]
            if backend == "sqlite"
            else [POSTGRES_URL, f"t_{uuid.uuid4().hex[:12]}"]
        )
        self.env = {**os.environ, "HUB_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> str:
        """Start one more process; its base URL once it answers /health."""
        port = free_port()
        script = Path(__file__).with_name("hub") / "hub_process.py"
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), self.backend, *self.target],
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("hub process did not start")

    def close(self, *, graceful: bool = True) -> None:
        """Stop every process still running, with SIGTERM when ``graceful`` (a clean stop:
        the IoT agent writes what it has and ends its MQTT session; SIGKILL past 30 s),
        else SIGKILL; drop the schema."""
        running = [proc for proc in self.procs if proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.backend == "postgres":
            import asyncio

            from smartseoul.hub.store.postgres import PostgresStore

            asyncio.run(PostgresStore(self.target[0], schema=self.target[1]).drop())


@contextmanager
def document_server(documents: dict[str, bytes]) -> Iterator[str]:
    """Serve ``documents`` (path -> body, as application/ld+json; 404 for any other path) on
    a local port and yield its base URL: remote @context documents the hub must fetch. The
    mapping is read at each request, so it may be filled once the URL is known."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def context_link(url: str) -> dict[str, str]:
    """A ``Link`` header naming a JSON-LD @context (clause 6.3.5)."""
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"'}  # fmt: skip


@pytest.fixture
def hub(backend: str, tmp_path: Path) -> Iterator[Hub]:
    store = make_store(backend, tmp_path)
    port = free_port()
    settings = Settings(data_dir=tmp_path, port=port, max_limit=1000)
    app = create_app(settings, store=store)
    with running(app, port) as base:
        hub = Hub(base, backend, store, app)
        try:
            yield hub
        finally:
            hub.http.close()
    if backend == "postgres":
        import asyncio

        asyncio.run(store.drop())


ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def problem(response, status: int, kind: str) -> dict:
    """Assert a ProblemDetails error answer (clauses 5.5.3, 6.3.6) and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "link" not in response.headers
    body = response.json()
    assert body["type"] == ERR + kind and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def fuzz_settings(max_examples: int = 60):
    """Hypothesis settings of the generated-request tests: derandomized, so a run is
    repeatable; no deadline, since requests go through a real server and database."""
    from hypothesis import HealthCheck, settings

    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
