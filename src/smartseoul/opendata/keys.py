"""API keys, roles, daily quotas, rate limits and usage statistics.

Keys are random 40-hex-digit strings, shown once when issued and kept only as SHA-256
hashes (a key has 160 random bits, so a fast hash is as safe as a slow one). Quotas and
rate limits are counted in the store with one atomic statement per counter, ``INSERT ...
ON CONFLICT DO UPDATE ... WHERE calls < limit RETURNING``, inside one write transaction:
under any number of concurrent requests, in any number of worker processes, exactly the
quota is served. A refused call counts nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartseoul.opendata.db import ensure_schema

KST = ZoneInfo("Asia/Seoul")
ROLES = ("reader", "writer", "admin")
ALL_TENANTS = "*"
SAMPLE_KEY = "sample"
ID_LENGTH = 10  # the key's first characters: its public id in listings and revocation
MAX_LIMIT = 2**31 - 1  # quotas and rate limits are INTEGER columns


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_hash: str
    id: str
    owner: str
    role: str
    tenant: str
    daily_quota: int  # calls a day (Asia/Seoul days); 0: no quota
    rate_limit: int  # calls a minute; 0: no limit
    created_at: float
    revoked_at: float | None = None

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        del out["key_hash"]
        return out

    def allows(self, role: str, tenant: str) -> bool:
        """Does this key hold ``role`` (or a higher one) on ``tenant``?"""
        if self.tenant not in (ALL_TENANTS, tenant):
            return False
        return ROLES.index(self.role) >= ROLES.index(role)


class LimitExceeded(Exception):
    """The daily quota or the rate limit is used up; retry after ``retry_after`` seconds."""

    def __init__(self, kind: str, retry_after: int, limit: int):
        what = "daily quota" if kind == "quota" else "rate limit"
        per = "a day" if kind == "quota" else "a minute"
        super().__init__(f"{what} of {limit} calls {per} used up; retry after {retry_after} s")
        self.kind, self.retry_after, self.limit = kind, retry_after, limit


class KeyError_(ValueError):
    """A key request the caller can fix (unknown role, bad quota ...)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def seoul_day(now: float) -> str:
    return datetime.fromtimestamp(now, KST).strftime("%Y%m%d")


def seconds_to_midnight(now: float) -> int:
    moment = datetime.fromtimestamp(now, KST)
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int(midnight.timestamp() - now + 0.999))


_COLUMNS = "key_hash, prefix, owner, role, tenant, daily_quota, rate_limit, created_at, revoked_at"


class KeyStore:
    """Keys and counters in the store; a short per-process cache keeps lookups cheap."""

    def __init__(
        self,
        store: Any,
        *,
        daily_quota: int = 1000,
        rate_limit: int = 600,
        cache_seconds: float = 5.0,
    ):
        self.store = store
        self.daily_quota, self.rate_limit = daily_quota, rate_limit
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def issue(
        self,
        owner: str,
        *,
        role: str = "reader",
        tenant: str = "",
        daily_quota: int | None = None,
        rate_limit: int | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key: the plain key (shown once) and its record."""
        if role not in ROLES:
            raise KeyError_(f"role: unknown {role!r}; one of {', '.join(ROLES)}")
        if not owner.strip():
            raise KeyError_("owner: say who the key is for")
        if "\x00" in owner + tenant:  # PostgreSQL text cannot hold U+0000
            raise KeyError_("owner and tenant may not hold a NUL character (U+0000)")
        quota = self.daily_quota if daily_quota is None else daily_quota
        rate = self.rate_limit if rate_limit is None else rate_limit
        for name, value in (("daily_quota", quota), ("rate_limit", rate)):
            if type(value) is not int or not 0 <= value <= MAX_LIMIT:
                raise KeyError_(f"{name}: an integer from 0 (no limit) to {MAX_LIMIT}")
        await ensure_schema(self.store)
        key = secrets.token_hex(20)
        record = ApiKey(hash_key(key), key[:ID_LENGTH], owner.strip(), role, tenant, quota, rate,
                        time.time())  # fmt: skip
        async with self.store.write() as conn:
            await conn.execute(
                f"INSERT INTO od_keys ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                [record.key_hash, record.id, record.owner, record.role, record.tenant,
                 record.daily_quota, record.rate_limit, record.created_at, None],
            )  # fmt: skip
        return key, record

    async def revoke(self, key_or_id: str) -> bool:
        """Revoke by the key itself or by its id (its first characters); True if one was."""
        if "\x00" in key_or_id:  # no key holds U+0000 (PostgreSQL text cannot)
            return False
        await ensure_schema(self.store)
        async with self.store.write() as conn:
            done = await conn.execute(
                "UPDATE od_keys SET revoked_at=? WHERE revoked_at IS NULL AND "
                "(key_hash=? OR prefix=?)",
                [time.time(), hash_key(key_or_id), key_or_id],
            )
        self._cache.clear()
        return bool(done)

    async def list_keys(self) -> list[ApiKey]:
        await ensure_schema(self.store)
        async with self.store.read() as conn:
            rows = await conn.fetchall(f"SELECT {_COLUMNS} FROM od_keys ORDER BY created_at")
        return [ApiKey(*row) for row in rows]

    async def lookup(self, key: str) -> ApiKey | None:
        """The live (not revoked) key record, or None; cached for ``cache_seconds``."""
        if not key or len(key) > 200:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        await ensure_schema(self.store)
        async with self.store.read() as conn:
            rows = await conn.fetchall(
                f"SELECT {_COLUMNS} FROM od_keys WHERE key_hash=? AND revoked_at IS NULL", [digest]
            )
        record = ApiKey(*rows[0]) if rows else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self.cache_seconds, record)
        return record

    async def consume(self, key: ApiKey, *, now: float | None = None) -> None:
        """Count one call against the key's rate limit and daily quota, or raise LimitExceeded."""
        now = time.time() if now is None else now
        slot = int(now // 60)

        class _Refused(Exception):
            pass

        refusal: LimitExceeded | None = None
        try:
            async with self.store.write() as conn:
                if key.rate_limit:
                    await conn.execute(
                        "DELETE FROM od_rate WHERE key_hash=? AND slot<?", [key.key_hash, slot]
                    )
                    got = await conn.fetchall(
                        "INSERT INTO od_rate (key_hash, slot, calls) VALUES (?,?,1) "
                        "ON CONFLICT (key_hash, slot) DO UPDATE SET calls = od_rate.calls + 1 "
                        "WHERE od_rate.calls < ? RETURNING calls",
                        [key.key_hash, slot, key.rate_limit],
                    )
                    if not got:
                        wait = max(1, int((slot + 1) * 60 - now + 0.999))
                        refusal = LimitExceeded("rate", wait, key.rate_limit)
                        raise _Refused
                if key.daily_quota:
                    got = await conn.fetchall(
                        "INSERT INTO od_quota (key_hash, day, calls) VALUES (?,?,1) "
                        "ON CONFLICT (key_hash, day) DO UPDATE SET calls = od_quota.calls + 1 "
                        "WHERE od_quota.calls < ? RETURNING calls",
                        [key.key_hash, seoul_day(now), key.daily_quota],
                    )
                    if not got:
                        refusal = LimitExceeded(
                            "quota", seconds_to_midnight(now), key.daily_quota
                        )
                        raise _Refused
        except _Refused:
            assert refusal is not None
            raise refusal from None

    async def calls_today(self, key: ApiKey, *, now: float | None = None) -> int:
        day = seoul_day(time.time() if now is None else now)
        async with self.store.read() as conn:
            rows = await conn.fetchall(
                "SELECT calls FROM od_quota WHERE key_hash=? AND day=?", [key.key_hash, day]
            )
        return int(rows[0][0]) if rows else 0

    async def record_usage(
        self, *, dataset: str, key_id: str, api: str, rows: int, now: float | None = None
    ) -> None:
        """One call of ``api`` on ``dataset`` by the key ``key_id`` ("" anonymous) served rows."""
        await ensure_schema(self.store)
        day = seoul_day(time.time() if now is None else now)
        async with self.store.write() as conn:
            await conn.execute(
                "INSERT INTO od_usage (day, dataset, key_prefix, api, calls, rows_served) "
                "VALUES (?,?,?,?,1,?) ON CONFLICT (day, dataset, key_prefix, api) DO UPDATE SET "
                "calls = od_usage.calls + 1, rows_served = od_usage.rows_served + ?",
                [day, dataset, key_id, api, rows, rows],
            )

    async def usage(
        self, *, since: str = "", dataset: str = "", key_id: str = ""
    ) -> list[dict[str, Any]]:
        """Calls and rows served per day, dataset, key and API (days as YYYYMMDD, KST)."""
        if "\x00" in since + dataset + key_id:  # nothing stored holds U+0000
            return []
        await ensure_schema(self.store)
        sql = "SELECT day, dataset, key_prefix, api, calls, rows_served FROM od_usage WHERE day >= ?"
        params: list[Any] = [since]
        if dataset:
            sql += " AND dataset=?"
            params.append(dataset)
        if key_id:
            sql += " AND key_prefix=?"
            params.append(key_id)
        async with self.store.read() as conn:
            rows = await conn.fetchall(sql + " ORDER BY day, dataset, key_prefix, api", params)
        return [
            {"day": d, "dataset": ds, "key": k, "api": a, "calls": int(c), "rows": int(r)}
            for d, ds, k, a, c, r in rows
        ]
