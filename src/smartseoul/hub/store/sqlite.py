"""SQLite backend: the embedded default. One file, WAL journal, an R*Tree for geometry.

Calls run on the event loop thread: SQLite answers in microseconds for indexed work, so
a thread hop would cost more than it saves. WAL checkpoints, which copy and sync many
pages, run on a thread of their own instead. Writes are serialised by an asyncio lock (and
across processes by SQLite's own lock with a busy timeout).

Group commit: the writes that run in one turn of the event loop share one transaction.
Each ``write()`` after the first runs in a savepoint of it (a failing write rolls back to its
savepoint and leaves the others whole); a callback queued behind them commits the group, and each ``write()``
returns only once that commit is done, so an acknowledged write is committed.
A commit costs most of a small write (WAL frames for every touched page), so concurrent
requests share it instead of paying it one by one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from smartseoul.hub.errors import TooComplexQuery
from smartseoul.hub.store.sql import GEO_SLOTS, SqlStore
from smartseoul.hub.store.sqlcommon import check_params
from smartseoul.hub.store.sqlfilter import NAME_IDS, function_error
from smartseoul.hub.store.subscription_sql import SCHEMA_SQLITE

log = logging.getLogger("smartseoul.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY, created_at REAL);
CREATE TABLE IF NOT EXISTS entities (
  pk INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
  created_at TEXT NOT NULL, modified_at TEXT NOT NULL, expires_at REAL, UNIQUE (tenant, id));
CREATE INDEX IF NOT EXISTS entities_expires ON entities (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS attr_names (id INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE);
INSERT OR IGNORE INTO attr_names (id, iri) VALUES (1, '@type'), (2, '@scope');
CREATE TABLE IF NOT EXISTS attr_index (
  tenant TEXT NOT NULL, pk INTEGER NOT NULL, name INTEGER NOT NULL, num REAL, str TEXT);
CREATE INDEX IF NOT EXISTS attr_index_num ON attr_index (tenant, name, num);
CREATE INDEX IF NOT EXISTS attr_index_str ON attr_index (tenant, name, str);
DROP INDEX IF EXISTS attr_index_pk;
CREATE INDEX IF NOT EXISTS attr_index_pk_name ON attr_index (pk, name);
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree (id, minx, maxx, miny, maxy, +pk, +name);
CREATE TABLE IF NOT EXISTS history (
  tenant TEXT NOT NULL, entity_id TEXT NOT NULL, attr TEXT NOT NULL, instance_id TEXT NOT NULL,
  dataset_id TEXT NOT NULL, observed_at REAL, modified_at REAL NOT NULL, deleted INTEGER NOT NULL,
  num REAL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_observed ON history (tenant, entity_id, attr, observed_at);
CREATE TABLE IF NOT EXISTS temporal_entities (
  tenant TEXT NOT NULL, entity_id TEXT NOT NULL, types TEXT NOT NULL, scopes TEXT,
  created_at REAL, modified_at REAL, deleted_at REAL, PRIMARY KEY (tenant, entity_id));
CREATE INDEX IF NOT EXISTS temporal_entities_modified ON temporal_entities (tenant, modified_at);
CREATE TABLE IF NOT EXISTS contexts (
  id TEXT PRIMARY KEY, url TEXT, kind TEXT NOT NULL, data TEXT, created_at REAL,
  last_usage REAL, hits INTEGER);
CREATE INDEX IF NOT EXISTS contexts_url ON contexts (url);
"""


def _migrate_name_ids(db: sqlite3.Connection) -> None:
    """Move a database of the first layout (attribute IRIs as text in attr_index and the
    R*Tree) to name ids from ``attr_names``, in one transaction; nothing else changes."""
    columns = {row[1]: str(row[2]).upper() for row in db.execute("PRAGMA table_info(attr_index)")}
    if columns.get("name") != "TEXT":
        return
    log.warning("migrating %s: attribute names to ids (attr_names)", db)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE attr_names (id INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE)")
        db.execute("INSERT INTO attr_names (id, iri) VALUES (1, '@type'), (2, '@scope')")
        db.execute(
            "INSERT OR IGNORE INTO attr_names (iri) SELECT DISTINCT name FROM attr_index "
            "UNION SELECT DISTINCT name FROM geo_rtree ORDER BY 1"
        )
        for index in ("attr_index_num", "attr_index_str", "attr_index_pk", "attr_index_pk_name"):
            db.execute(f"DROP INDEX IF EXISTS {index}")
        db.execute("ALTER TABLE attr_index RENAME TO attr_index_text")
        db.execute(
            "CREATE TABLE attr_index (tenant TEXT NOT NULL, pk INTEGER NOT NULL, "
            "name INTEGER NOT NULL, num REAL, str TEXT)"
        )
        db.execute(
            "INSERT INTO attr_index (tenant, pk, name, num, str) SELECT a.tenant, a.pk, n.id, "
            "a.num, a.str FROM attr_index_text a JOIN attr_names n ON n.iri = a.name"
        )
        db.execute("DROP TABLE attr_index_text")
        db.execute("UPDATE geo_rtree SET name = (SELECT id FROM attr_names WHERE iri = name)")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _add_expires_at(db: sqlite3.Connection) -> None:
    """Give an entities table of an earlier layout its expires_at column (clause 4.22)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(entities)")}
    if columns and "expires_at" not in columns:
        db.execute("ALTER TABLE entities ADD COLUMN expires_at REAL")


class _Conn:
    """Adapter with the shared code's async primitives over a sqlite3 connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return _fetchall(self.db, sql, params)


def _fetchall(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a read. SQLite parses about a hundred nested levels at most ("parser stack
    overflow"): a q or type selection nested that deep is TooComplexQuery (403), not a 500."""
    check_params(params)
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        failed = function_error()
        if failed is not None:
            raise failed from None
        if "parser stack overflow" not in str(exc):
            raise
    raise TooComplexQuery(
        "The filter nests too deeply for the SQLite store: use fewer nested groups or "
        "linked-entity hops"
    )


class _ThreadConn:
    """The read side of the Conn adapter, each statement on a worker thread."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(_fetchall, self.db, sql, params)


class _Checkpointer(threading.Thread):
    """Copies the WAL into the database file from its own connection and thread.

    A passive checkpoint never blocks the writer, and ``sqlite3`` releases the GIL while
    SQLite works, so the copying and syncing run beside the event loop instead of inside
    a commit. Every ``every`` seconds; several processes on one file may each run one.
    """

    def __init__(self, path: Path, *, every: float = 0.5):
        super().__init__(name="smartseoul-sqlite-checkpoint", daemon=True)
        self.path, self.every = path, every
        self._stopping = threading.Event()

    def run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA busy_timeout=10000")
            while not self._stopping.wait(self.every):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as err:  # busy or locked: the next round tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, err)
        finally:
            db.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join()


class SqliteStore(SqlStore):
    dialect = "sqlite"

    def __init__(
        self, path: str | Path, *, synchronous: str = "NORMAL", mmap_mb: int = 0
    ):
        self.path = Path(path)
        self.synchronous = synchronous
        self.mmap_mb = mmap_mb
        self.name_ids = dict(NAME_IDS)
        self.db: sqlite3.Connection | None = None
        self._conn: _Conn | None = None
        self._lock = asyncio.Lock()
        self._group: asyncio.Future[None] | None = None  # commit of the open transaction
        self._checkpointer: _Checkpointer | None = None

    async def open(self) -> None:
        from smartseoul.hub.store.sqlfilter import register_sqlite_functions

        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # WAL lets readers run beside the writer; NORMAL sync in WAL mode survives a process
        # crash (kill -9) without losing committed transactions.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA temp_store=MEMORY")
        # Memory-mapped reads skip a copy into the page cache; the mapped pages count in
        # the process's resident size (they are the file's, and the kernel may drop them).
        db.execute(f"PRAGMA mmap_size={int(self.mmap_mb) * 1024 * 1024}")
        # No checkpoint on the event loop: a commit that crosses the autocheckpoint size
        # would copy the WAL into the database and sync it, holding every request for
        # hundreds of milliseconds under steady writes. A thread of its own does it.
        db.execute("PRAGMA wal_autocheckpoint=0")
        db.execute("PRAGMA journal_size_limit=67108864")
        _migrate_name_ids(db)
        _add_expires_at(db)
        db.executescript(SCHEMA + SCHEMA_SQLITE)
        register_sqlite_functions(db)
        self.db = db
        self._conn = _Conn(db)
        self._checkpointer = _Checkpointer(self.path)
        self._checkpointer.start()

    def location(self) -> str:
        return f"sqlite:{self.path.resolve()}"

    async def close(self) -> None:
        if self._group is not None and not self._lock.locked():
            self._commit_group()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self.db is not None:
            self.db.close()
            self.db = None

    @asynccontextmanager
    async def scan(self) -> AsyncIterator[_ThreadConn]:
        """A read connection of its own whose statements run on a worker thread, for reads
        that walk many rows (a count over a million history rows takes 0.25 s) and must not
        hold the event loop meanwhile. It sees committed data only."""
        from smartseoul.hub.store.sqlfilter import register_sqlite_functions

        db = await asyncio.to_thread(
            sqlite3.connect, self.path, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA busy_timeout=10000")
            register_sqlite_functions(db)
            yield _ThreadConn(db)
        finally:
            db.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[_Conn]:
        assert self._conn is not None, "store not open"
        yield self._conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[_Conn]:
        assert self._conn is not None and self.db is not None, "store not open"
        db = self.db
        async with self._lock:
            first = self._group is None
            if first:
                db.execute("BEGIN IMMEDIATE")
                loop = asyncio.get_running_loop()
                self._group = loop.create_future()
                loop.call_soon(self._commit_group)
            group = self._group
            assert group is not None
            # Only a write that joins a group needs a savepoint to undo alone: a savepoint
            # copies every page it changes into a journal, which costs big writes dearly.
            if not first:
                db.execute("SAVEPOINT write")
            try:
                yield self._conn
            except BaseException as exc:
                if db.in_transaction:
                    if first:  # nothing else is in the transaction yet: start it afresh
                        db.execute("ROLLBACK")
                        db.execute("BEGIN IMMEDIATE")
                    else:
                        db.execute("ROLLBACK TO write")
                        db.execute("RELEASE write")
                elif self._group is group:
                    # SQLite rolled the whole transaction back (disk full, I/O error): the
                    # group's earlier writes are lost with it, so none of them may succeed.
                    self._group = None
                    group.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
                    group.exception()
                raise
            if not first:
                db.execute("RELEASE write")
        await asyncio.shield(group)

    def _commit_group(self) -> None:
        """Commit the open group: queued behind the writers that are ready in this turn of
        the event loop, and later again while a writer is still inside its savepoint."""
        if self._lock.locked():
            asyncio.get_running_loop().call_later(0.0005, self._commit_group)
            return
        group, self._group = self._group, None
        if group is None or self.db is None:
            return
        try:
            self.db.execute("COMMIT")
        except Exception as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            group.set_exception(exc)
            group.exception()  # marked retrieved: each writer of the group raises it
        else:
            group.set_result(None)

    async def insert_entity_rows(self, conn: Any, rows: list[tuple[Any, ...]]) -> list[int]:
        # A multi-row INSERT per 100 rows instead of a statement per row (a batch create's
        # entity rows took 100 round trips through the sqlite3 module). SQLite returns the
        # RETURNING rows in no promised order, so the pks are matched back by id.
        db = conn.db
        by_id: dict[str, int] = {}
        for start in range(0, len(rows), 100):
            part = rows[start : start + 100]
            cur = db.execute(
                "INSERT INTO entities (tenant, id, data, created_at, modified_at, expires_at) "
                "VALUES " + ",".join(["(?,?,?,?,?,?)"] * len(part)) + " RETURNING pk, id",
                [value for row in part for value in row],
            )
            by_id.update((i, pk) for pk, i in cur.fetchall())
        return [by_id[row[1]] for row in rows]

    async def insert_geo_rows(self, conn: Any, tenant: str, rows: list[tuple[Any, ...]]) -> None:
        await conn.executemany(
            "INSERT INTO geo_rtree (id, minx, maxx, miny, maxy, pk, name) VALUES (?,?,?,?,?,?,?)",
            [
                (pk * GEO_SLOTS + n, x0, x1, y0, y1, pk, name)
                for pk, n, name, x0, y0, x1, y1 in rows
            ],
        )

    async def delete_geo_rows(self, conn: Any, pks: list[int]) -> None:
        for pk in pks:
            await conn.execute(
                "DELETE FROM geo_rtree WHERE id BETWEEN ? AND ?",
                [pk * GEO_SLOTS, pk * GEO_SLOTS + GEO_SLOTS - 1],
            )

    def geo_candidates(
        self, tenant: str, name: str, box: tuple[float, float, float, float]
    ) -> tuple[str, list[Any]]:
        minx, miny, maxx, maxy = box
        return (
            "SELECT pk FROM geo_rtree WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ? "
            "AND name = (SELECT id FROM attr_names WHERE iri = ?)",
            [minx, maxx, miny, maxy, name],
        )

    def regex_sql(self, column: str) -> str:
        return f"{column} REGEXP ?"
