"""Settings: the only place that reads the environment (prefix ``SMARTSEOUL_``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def settings_problem(error: ValidationError) -> str:
    """What is wrong with the settings, one line per setting, named as in the environment.

    Examples
    --------
    >>> try:
    ...     Settings(port=99999)
    ... except ValidationError as err:
    ...     print(settings_problem(err))
    SMARTSEOUL_PORT: Input should be less than or equal to 65535 (got 99999)
    """
    lines = []
    for item in error.errors():
        name = "SMARTSEOUL_" + "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["loc"]:
            lines.append(f"{name}: {message} (got {item['input']!r})")
        else:
            lines.append(message)
    return "\n".join(lines)


class Settings(BaseSettings):
    """Every setting of the platform. Each one is documented in ``docs/configuration.md``."""

    model_config = SettingsConfigDict(env_prefix="SMARTSEOUL_", extra="ignore")

    data_dir: Path = Field(
        Path("var"), description="Folder for the SQLite database and other state."
    )
    database_url: str = Field(
        "",
        description="postgresql://... selects PostgreSQL; empty means a SQLite file in data_dir.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(
        1026, ge=0, le=65535, description="Port the HTTP server listens on (1026: the NGSI-LD custom)."
    )
    base_url: str = Field(
        "",
        description="Public base URL used in Location headers and hosted @context URLs; "
        "derived from host and port when empty.",
    )
    max_limit: int = Field(
        1000, ge=1, description="Largest `limit` a query may ask for (TooManyResults above)."
    )
    default_limit: int = Field(20, ge=1, description="Page size when a query gives no `limit`.")
    max_body_bytes: int = Field(
        64 * 2**20,
        ge=1,
        description="Largest request body the hub, the city services, the IoT agent and the "
        "CKAN action API read (413 above).",
    )
    temporal_max_instances: int = Field(
        10000,
        ge=1,
        description="Instances per attribute and dataset in one temporal answer; more gives "
        "206 Partial Content with a Content-Range.",
    )
    context_fetch_timeout: float = Field(5.0, gt=0, description="Seconds to wait for a remote @context.")
    context_cache_size: int = Field(256, ge=0, description="Remote @context documents kept in memory.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Logging level (DEBUG, INFO, WARNING, ERROR, CRITICAL)."
    )
    log_json: bool = Field(True, description="Write one JSON object per log line.")
    iot_mqtt_url: str = Field(
        "",
        description="MQTT broker the IoT agent listens on (mqtt://host:port); empty: HTTP ingestion only.",
    )
    iot_mqtt_session_expiry: int = Field(
        600,
        ge=0,
        le=2**32 - 1,
        description="Seconds the MQTT broker keeps the IoT agent's session after the process "
        "dies: a restart within that time gets every message it had not yet written, and those "
        "sent meanwhile; 0: the session ends with the connection.",
    )
    postgres_pool_size: int = Field(8, ge=1, description="Connections in the PostgreSQL pool.")
    sqlite_mmap_mb: int = Field(
        0, ge=0, description="Megabytes of the SQLite file read through a memory map "
        "(0: none; reads go through SQLite's own page cache)."
    )
    expiry_interval: float = Field(
        10.0, ge=0, description="Seconds between two sweeps for expired entities and "
        "attributes (expiresAt, clause 4.22); 0: no sweeping."
    )
    notify_timeout: float = Field(
        10.0, gt=0, description="Seconds a notification delivery may take at most (an "
        "endpoint's shorter `timeout`, in milliseconds, wins)."
    )
    notify_retry_backoff: float = Field(
        0.5, gt=0, description="Seconds before the first retry of a failed delivery; doubles "
        "per attempt."
    )
    notify_retry_max_backoff: float = Field(
        300.0, gt=0, description="Longest wait between delivery retries, in seconds."
    )
    # Flood service (services/flood/): see docs/flood.md.
    flood_model_path: Path | None = Field(
        None, description="Saved flood model (JSON); empty: DATA_DIR/flood-model.json."
    )
    flood_levels: str = Field(
        "1018683=8.5:10.5",
        description="Official levels per gauge, CODE=ADVISORY_M:WARNING_M, comma-separated.",
    )
    flood_rain_hour_mm: float = Field(
        55.0, gt=0, description="Rain in 60 minutes that issues a gu's inundation pre-warning."
    )
    flood_rain_15min_mm: float = Field(
        20.0, gt=0, description="Rain in 15 minutes that issues a gu's inundation pre-warning."
    )
    flood_hold_minutes: int = Field(
        60, ge=0, description="Minutes a lower level must hold before an alert is lowered or cancelled."
    )
    flood_cap_sender: str = Field(
        "flood@smartseoul.example", description="CAP 1.2 sender of flood alert messages."
    )
    # Open data and keys (opendata/): see docs/opendata.md.
    auth: Literal["off", "on"] = Field(
        "off", description="on: hub writes (and keyed reads) need an API key with a role."
    )
    auth_read: Literal["public", "keyed"] = Field(
        "public", description="With auth on: hub reads public, or keyed (reader role)."
    )
    auth_keyed_tenants: str = Field(
        "", description="Comma-separated tenants whose reads need a key even when reads are public."
    )
    auth_cache_seconds: float = Field(
        5.0, ge=0, description="Seconds a worker keeps a key lookup (revocation delay elsewhere)."
    )
    opendata_daily_quota: int = Field(
        1000, ge=0, description="Default calls a day (Asia/Seoul) for a new key; 0: no quota."
    )
    opendata_rate_limit: int = Field(
        600, ge=0, description="Default calls a minute for a new key; 0: no limit."
    )
    opendata_sample_key: bool = Field(
        True, description="Accept the Seoul OpenAPI `sample` key (at most 5 rows a call)."
    )
    opendata_max_upload_mb: int = Field(100, ge=1, description="Largest file resource upload.")
    # Safe city (services/safety/): see docs/safety.md.
    safety_time_limit: float = Field(
        60.0, gt=0, description="Seconds HiGHS may spend proving a siting plan optimal."
    )
    safety_permutations: int = Field(
        999, ge=19, description="Conditional permutations of the Gi* hotspot test."
    )
    safety_fdr: float = Field(
        0.05, gt=0, lt=1, description="False-discovery rate at which Gi* hotspots are flagged."
    )
    # Operations map (web/): see docs/web.md.
    map_tile_url: str = Field(
        "",
        description="Raster tile URL template ({z}/{x}/{y}) drawn under the map; empty: the "
        "offline base map of Seoul's gu and dong boundaries only.",
    )
    # Cyber security (services/cyber/): see docs/cyber.md.
    cyber_events_path: Path | None = Field(
        None, description="SQLite file of security events; empty: DATA_DIR/cyber-events.db."
    )
    cyber_retention_days: float = Field(
        30.0, gt=0, description="Days security events are kept in the event store."
    )
    cyber_rules: str = Field(
        "", description="Extra Sigma rule files or folders, comma-separated (added to the bundled set)."
    )
    cyber_model_dir: Path | None = Field(
        None, description="Folder of saved intrusion models; empty: DATA_DIR/cyber-models."
    )
    cyber_incident_window_minutes: float = Field(
        60.0, gt=0, description="Alerts on one asset and technique this close in time form one incident."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _limits(self) -> Settings:
        if self.default_limit > self.max_limit:
            raise ValueError(
                f"SMARTSEOUL_DEFAULT_LIMIT ({self.default_limit}) is above "
                f"SMARTSEOUL_MAX_LIMIT ({self.max_limit})"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("SMARTSEOUL_DATABASE_URL must start with postgresql:// or sqlite:///")
        return value

    @cached_property
    def sqlite_path(self) -> Path:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "smartseoul.db"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def public_base_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
