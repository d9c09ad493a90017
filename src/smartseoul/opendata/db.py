"""The open-data tables: created beside the hub's tables, in the same store database.

The SQL is written once with ``?`` placeholders (both store adapters accept them) and the
few dialect differences (binary and float column types) are filled in per backend.
"""

from __future__ import annotations

from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS od_organizations (
  name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS od_datasets (
  name TEXT PRIMARY KEY, organization TEXT NOT NULL, data TEXT NOT NULL,
  created_at {FLOAT} NOT NULL, modified_at {FLOAT} NOT NULL);
CREATE TABLE IF NOT EXISTS od_resources (
  id TEXT PRIMARY KEY, dataset TEXT NOT NULL, position INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS od_resources_dataset ON od_resources (dataset, position);
CREATE TABLE IF NOT EXISTS od_files (
  resource_id TEXT PRIMARY KEY, media_type TEXT NOT NULL, filename TEXT NOT NULL,
  content {BLOB} NOT NULL, size INTEGER NOT NULL, uploaded_at {FLOAT} NOT NULL);
CREATE TABLE IF NOT EXISTS od_keys (
  key_hash TEXT PRIMARY KEY, prefix TEXT NOT NULL, owner TEXT NOT NULL, role TEXT NOT NULL,
  tenant TEXT NOT NULL, daily_quota INTEGER NOT NULL, rate_limit INTEGER NOT NULL,
  created_at {FLOAT} NOT NULL, revoked_at {FLOAT});
CREATE TABLE IF NOT EXISTS od_quota (
  key_hash TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL,
  PRIMARY KEY (key_hash, day));
CREATE TABLE IF NOT EXISTS od_rate (
  key_hash TEXT NOT NULL, slot BIGINT NOT NULL, calls INTEGER NOT NULL,
  PRIMARY KEY (key_hash, slot));
CREATE TABLE IF NOT EXISTS od_usage (
  day TEXT NOT NULL, dataset TEXT NOT NULL, key_prefix TEXT NOT NULL, api TEXT NOT NULL,
  calls INTEGER NOT NULL, rows_served BIGINT NOT NULL,
  PRIMARY KEY (day, dataset, key_prefix, api));
"""

_TYPES = {
    "sqlite": {"FLOAT": "REAL", "BLOB": "BLOB"},
    "postgres": {"FLOAT": "DOUBLE PRECISION", "BLOB": "BYTEA"},
}


async def ensure_schema(store: Any) -> None:
    """Create the open-data tables if missing (idempotent; safe with several workers)."""
    if getattr(store, "_opendata_schema", False):
        return
    script = SCHEMA.format(**_TYPES[store.dialect])
    async with store.write() as conn:
        if store.dialect == "postgres":
            await conn.execute("SELECT pg_advisory_xact_lock(726173)")
        for statement in script.split(";"):
            if statement.strip():
                await conn.execute(statement)
    store._opendata_schema = True


def as_bytes(value: Any) -> bytes:
    """BLOB (bytes) on SQLite, BYTEA (bytes or memoryview) on PostgreSQL."""
    return bytes(value)
