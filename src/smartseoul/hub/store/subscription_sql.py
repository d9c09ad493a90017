"""Subscriptions and the notification outbox in SQL (both backends).

Tables
------
``subscriptions(tenant, id, data, created_at, times_sent, times_failed, last_notification,
last_success, last_failure, status, next_slot, next_due)``
    ``data`` is the stored form of ``hub.subscriptions``; the counters are clause 5.2.14.2's
    output members. ``next_slot`` is the earliest time the next notification may go out
    (throttling); ``next_due`` the next periodic notification (timeInterval).
``subscription_versions(tenant, version)``
    Bumped in the same transaction as any subscription change, so every worker process
    notices and reloads its in-memory index (no process memory is trusted across workers).
``notification_outbox(id, tenant, subscription_id, payload, endpoint, attempts,
next_attempt_at, claimed_until, created_at, last_error)``
    Pending notifications. Rows are written in the entity write transaction (an
    acknowledged write and its notifications commit together, and survive kill -9), claimed
    with a lease by one worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an atomic
    ``UPDATE ... RETURNING`` on SQLite), deleted when delivered, retried with backoff when not.
``endpoint_failures(uri, failed_at)``
    The last failed delivery to each endpoint URI that has a ``cooldown`` (clause 5.2.15),
    removed by its next success: every worker honours a failure another worker saw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smartseoul.hub.store.base import WriteConflict
from smartseoul.hub.store.sqlcommon import Conn, dumps, loads

SCHEMA_SQLITE = """
CREATE TABLE IF NOT EXISTS subscriptions (
  tenant TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL,
  times_sent INTEGER NOT NULL DEFAULT 0, times_failed INTEGER NOT NULL DEFAULT 0,
  last_notification TEXT, last_success TEXT, last_failure TEXT, status TEXT,
  next_slot REAL, next_due REAL, PRIMARY KEY (tenant, id));
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (next_due);
CREATE TABLE IF NOT EXISTS subscription_versions (
  tenant TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notification_outbox (
  id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, subscription_id TEXT NOT NULL,
  payload TEXT NOT NULL, endpoint TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at REAL NOT NULL, claimed_until REAL, created_at REAL NOT NULL, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON notification_outbox (next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_subscription ON notification_outbox (tenant, subscription_id);
CREATE TABLE IF NOT EXISTS endpoint_failures (uri TEXT PRIMARY KEY, failed_at REAL NOT NULL);
"""

SCHEMA_POSTGRES = """
CREATE TABLE IF NOT EXISTS subscriptions (
  tenant TEXT NOT NULL, id TEXT NOT NULL, data JSONB NOT NULL,
  created_at DOUBLE PRECISION NOT NULL,
  times_sent BIGINT NOT NULL DEFAULT 0, times_failed BIGINT NOT NULL DEFAULT 0,
  last_notification TEXT, last_success TEXT, last_failure TEXT, status TEXT,
  next_slot DOUBLE PRECISION, next_due DOUBLE PRECISION, PRIMARY KEY (tenant, id));
CREATE INDEX IF NOT EXISTS subscriptions_due ON subscriptions (next_due);
CREATE TABLE IF NOT EXISTS subscription_versions (
  tenant TEXT PRIMARY KEY, version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS notification_outbox (
  id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, subscription_id TEXT NOT NULL,
  payload TEXT NOT NULL, endpoint TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at DOUBLE PRECISION NOT NULL, claimed_until DOUBLE PRECISION,
  created_at DOUBLE PRECISION NOT NULL, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_due ON notification_outbox (next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_subscription ON notification_outbox (tenant, subscription_id);
CREATE TABLE IF NOT EXISTS endpoint_failures (
  uri TEXT PRIMARY KEY, failed_at DOUBLE PRECISION NOT NULL);
"""

OUTBOX_CHANNEL = "smartseoul_outbox"  # PostgreSQL NOTIFY channel that wakes the workers
COUNTERS = ("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure", "status")


@dataclass(slots=True)
class OutboxRow:
    """A notification waiting for delivery."""

    id: int
    tenant: str
    subscription_id: str
    payload: str  # the Notification body, JSON text, exactly as it will be sent
    endpoint: dict[str, Any]  # uri, accept, receiverInfo, notifierInfo, timeout, link
    attempts: int


class SubscriptionStoreMixin:
    """Subscription storage for ``SqlStore`` (which supplies ``read``, ``write``, ``dialect``)."""

    dialect: str
    read: Any  # SqlStore.read / SqlStore.write: async context managers yielding a Conn
    write: Any

    async def create_subscription_tables(self) -> None:
        """Create the tables (idempotent); backends may instead run the SCHEMA_* text."""
        if self.dialect == "sqlite":
            self.db.executescript(SCHEMA_SQLITE)  # type: ignore[attr-defined]
            return
        async with self.write() as conn:
            for statement in filter(str.strip, SCHEMA_POSTGRES.split(";")):
                await conn.execute(statement)

    # -- subscriptions ---------------------------------------------------------------
    async def subscription_version(self, conn: Conn, tenant: str) -> int:
        rows = await conn.fetchall(
            "SELECT version FROM subscription_versions WHERE tenant=?", [tenant]
        )
        return rows[0][0] if rows else 0

    async def _bump_version(self, conn: Conn, tenant: str) -> None:
        await conn.execute(
            "INSERT INTO subscription_versions (tenant, version) VALUES (?, 1) "
            "ON CONFLICT (tenant) DO UPDATE SET version = subscription_versions.version + 1",
            [tenant],
        )

    async def insert_subscription(self, tenant: str, sub: dict[str, Any]) -> bool:
        """Add a subscription; False when one with this id exists (AlreadyExists)."""
        now = time.time()
        due = now if "timeInterval" in sub else None
        async with self.write() as conn:
            count = await conn.execute(
                "INSERT INTO subscriptions (tenant, id, data, created_at, next_due) "
                "VALUES (?,?,?,?,?) ON CONFLICT (tenant, id) DO NOTHING",
                [tenant, sub["id"], dumps(sub), now, due],
            )
            if count:
                await self._ensure_tenant(conn, tenant)
                await self._bump_version(conn, tenant)
        return count > 0

    async def _ensure_tenant(self, conn: Conn, tenant: str) -> None:
        if tenant:
            await conn.execute(
                "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                [tenant, time.time()],
            )

    async def replace_subscription(
        self, tenant: str, sub: dict[str, Any], *, previous: dict[str, Any] | None = None
    ) -> bool:
        """Overwrite a subscription's document; False when it does not exist. With
        ``previous`` (the document the change was made from), WriteConflict when another
        change came first: two concurrent PATCHes each kept only their own members."""
        periodic = "timeInterval" in sub
        sql = (
            "UPDATE subscriptions SET data=?, next_due=CASE WHEN ? THEN "
            "COALESCE(next_due, ?) ELSE NULL END WHERE tenant=? AND id=?"
        )
        params = [dumps(sub), periodic, time.time(), tenant, sub["id"]]
        if previous is not None:  # jsonb compares as JSON; SQLite text as written by dumps
            sql += " AND data=?::jsonb" if self.dialect == "postgres" else " AND data=?"
            params.append(dumps(previous))
        async with self.write() as conn:
            count = await conn.execute(sql, params)
            if count:
                await self._bump_version(conn, tenant)
            elif previous is not None and await conn.fetchall(
                "SELECT 1 FROM subscriptions WHERE tenant=? AND id=?", [tenant, sub["id"]]
            ):
                raise WriteConflict(f"subscription {sub['id']} changed meanwhile")
        return count > 0

    async def get_subscription(
        self, tenant: str, sub_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The stored subscription and its counters, or None."""
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT data, times_sent, times_failed, last_notification, last_success, "
                "last_failure, status FROM subscriptions WHERE tenant=? AND id=?",
                [tenant, sub_id],
            )
        return _with_counters(rows[0]) if rows else None

    async def list_subscriptions(
        self, tenant: str, *, limit: int, offset: int
    ) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], int]:
        """A page of subscriptions in creation order, and how many there are."""
        async with self.read() as conn:
            total = (
                await conn.fetchall("SELECT count(*) FROM subscriptions WHERE tenant=?", [tenant])
            )[0][0]
            rows = await conn.fetchall(
                "SELECT data, times_sent, times_failed, last_notification, last_success, "
                "last_failure, status FROM subscriptions WHERE tenant=? "
                "ORDER BY created_at, id LIMIT ? OFFSET ?",
                [tenant, limit, offset],
            )
        return [_with_counters(r) for r in rows], total

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        """Remove a subscription and its pending notifications (clause 5.8.5.4)."""
        async with self.write() as conn:
            count = await conn.execute(
                "DELETE FROM subscriptions WHERE tenant=? AND id=?", [tenant, sub_id]
            )
            if count:
                await conn.execute(
                    "DELETE FROM notification_outbox WHERE tenant=? AND subscription_id=?",
                    [tenant, sub_id],
                )
                await self._bump_version(conn, tenant)
        return count > 0

    async def load_subscriptions(self, conn: Conn, tenant: str) -> list[dict[str, Any]]:
        """Every subscription document of a tenant (for a worker's in-memory index)."""
        rows = await conn.fetchall("SELECT data FROM subscriptions WHERE tenant=?", [tenant])
        return [loads(r[0]) for r in rows]

    async def claim_periodic(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        """Periodic subscriptions due now, claimed by moving their ``next_due`` on.

        The compare-and-set update makes exactly one worker win each period.
        """
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT tenant, id, data, next_due FROM subscriptions "
                "WHERE next_due IS NOT NULL AND next_due <= ?",
                [now],
            )
        won = []
        for tenant, sub_id, data, due in rows:
            sub = loads(data)
            interval = float(sub.get("timeInterval") or 0)
            if interval <= 0:
                continue
            following = max(due + interval, now)
            async with self.write() as conn:
                count = await conn.execute(
                    "UPDATE subscriptions SET next_due=? WHERE tenant=? AND id=? AND next_due=?",
                    [following, tenant, sub_id, due],
                )
            if count:
                won.append((tenant, sub))
        return won

    # -- outbox ----------------------------------------------------------------------
    async def reserve_slots(
        self, conn: Conn, tenant: str, throttled: Sequence[tuple[str, float]], now: float
    ) -> dict[str, float]:
        """Send times for throttled subscriptions: one notification per ``throttling`` s.

        Later notifications are delayed, not dropped. Runs inside the write transaction.
        """
        out: dict[str, float] = {}
        for sub_id, throttling in throttled:
            rows = await conn.fetchall(
                "SELECT next_slot FROM subscriptions WHERE tenant=? AND id=?"
                + (" FOR UPDATE" if self.dialect == "postgres" else ""),
                [tenant, sub_id],
            )
            if not rows:
                continue
            slot = max(now, rows[0][0] or 0.0)
            await conn.execute(
                "UPDATE subscriptions SET next_slot=? WHERE tenant=? AND id=?",
                [slot + throttling, tenant, sub_id],
            )
            out[sub_id] = slot
        return out

    async def enqueue_notifications(
        self, conn: Conn, rows: Sequence[tuple[str, str, str, dict[str, Any], float]]
    ) -> None:
        """Queue notifications inside the caller's write transaction.

        ``rows`` are ``(tenant, subscription_id, payload JSON text, endpoint, send_at)``.
        """
        if not rows:
            return
        now = time.time()
        await conn.executemany(
            "INSERT INTO notification_outbox (tenant, subscription_id, payload, endpoint, "
            "attempts, next_attempt_at, created_at) VALUES (?,?,?,?,0,?,?)",
            [(t, s, p, dumps(e), at, now) for t, s, p, e, at in rows],
        )
        if self.dialect == "postgres":
            await conn.execute(f"NOTIFY {OUTBOX_CHANNEL}")

    async def claim_notifications(
        self, *, limit: int = 100, lease: float = 30.0, now: float | None = None
    ) -> list[OutboxRow]:
        """Claim due outbox rows for ``lease`` seconds; each row goes to one worker."""
        now = time.time() if now is None else now
        due = "next_attempt_at<=? AND (claimed_until IS NULL OR claimed_until<?)"
        async with self.read() as conn:  # idle polls stay reads: no write lock taken
            if not await conn.fetchall(f"SELECT 1 FROM notification_outbox WHERE {due} LIMIT 1",
                                       [now, now]):  # fmt: skip
                return []
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        async with self.write() as conn:
            rows = await conn.fetchall(
                "UPDATE notification_outbox SET claimed_until=?, attempts=attempts+1 "
                f"WHERE id IN (SELECT id FROM notification_outbox WHERE {due} "
                f"ORDER BY next_attempt_at, id LIMIT ?{lock}) "
                "RETURNING id, tenant, subscription_id, payload, endpoint, attempts",
                [now + lease, now, now, limit],
            )
        return [
            OutboxRow(r[0], r[1], r[2], r[3], loads(r[4]), r[5])
            for r in sorted(rows, key=lambda r: r[0])
        ]

    async def next_notification_time(self) -> float | None:
        async with self.read() as conn:
            rows = await conn.fetchall(
                "SELECT min(next_attempt_at) FROM notification_outbox WHERE claimed_until IS NULL"
            )
        return rows[0][0] if rows else None

    async def notification_done(self, row: OutboxRow, *, ok: bool, at: str, error: str = "",
                                retry_at: float | None = None,
                                failed_at: float | None = None) -> None:  # fmt: skip
        """Record a delivery attempt (clause 5.8.6 counters); retry at ``retry_at`` if failed.

        For an endpoint with a cooldown, ``failed_at`` is the time of this failure (kept
        for every worker), or any value on success (the kept failure is forgotten)."""
        async with self.write() as conn:
            if failed_at is not None:
                uri = row.endpoint.get("uri", "")
                if ok:
                    await conn.execute("DELETE FROM endpoint_failures WHERE uri=?", [uri])
                else:
                    await conn.execute(
                        "INSERT INTO endpoint_failures (uri, failed_at) VALUES (?, ?) "
                        "ON CONFLICT (uri) DO UPDATE SET failed_at=excluded.failed_at",
                        [uri, failed_at],
                    )
            if ok or retry_at is None:
                await conn.execute("DELETE FROM notification_outbox WHERE id=?", [row.id])
            else:
                await conn.execute(
                    "UPDATE notification_outbox SET claimed_until=NULL, next_attempt_at=?, "
                    "last_error=? WHERE id=?",
                    [retry_at, error[:500], row.id],
                )
            if ok:
                await conn.execute(
                    "UPDATE subscriptions SET times_sent=times_sent+1, last_notification=?, "
                    "last_success=?, status='ok' WHERE tenant=? AND id=?",
                    [at, at, row.tenant, row.subscription_id],
                )
            else:
                await conn.execute(
                    "UPDATE subscriptions SET times_sent=times_sent+1, "
                    "times_failed=times_failed+1, last_notification=?, last_failure=?, "
                    "status='failed' WHERE tenant=? AND id=?",
                    [at, at, row.tenant, row.subscription_id],
                )

    async def endpoint_failed_at(self, uri: str) -> float | None:
        """When a delivery to ``uri`` last failed, if no success followed (any worker)."""
        async with self.read() as conn:
            rows = await conn.fetchall("SELECT failed_at FROM endpoint_failures WHERE uri=?", [uri])
        return rows[0][0] if rows else None

    async def drop_notification(self, row: OutboxRow) -> None:
        """Remove a notification that is not to be sent (endpoint cooldown, clause 5.2.15)."""
        async with self.write() as conn:
            await conn.execute("DELETE FROM notification_outbox WHERE id=?", [row.id])

    async def outbox_size(self) -> int:
        async with self.read() as conn:
            return (await conn.fetchall("SELECT count(*) FROM notification_outbox"))[0][0]


def _with_counters(row: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    return loads(row[0]), dict(zip(COUNTERS, row[1:], strict=True))
