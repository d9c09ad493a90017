"""What the IoT agent counted: accepted readings, rejections by reason, writes.

Rejections are the agent's way of reporting bad input without failing on it: each one is
counted under its reason and the latest are kept with their device and detail, for
``GET /iot/stats`` (JSON) and ``GET /iot/metrics`` (Prometheus text format).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from smartseoul.ingest.payloads import Rejection

__all__ = ["REASONS", "AgentStats"]

REASONS = {
    "bad_topic": "MQTT topic not of the form smartseoul/{apikey}/{device_id}/attrs",
    "unknown_device": "no Device entity provisioned for the device id",
    "wrong_apikey": "the apikey does not match the device's",
    "payload_too_large": "a message over 1 MiB, refused unparsed",
    "malformed_payload": "the payload, or a part of it, could not be parsed",
    "empty_payload": "the payload holds no measurement",
    "unmapped_measure": "a measurement name not in the device's measurementMap",
    "bad_value": "a value that cannot be converted to the mapped type",
    "bad_timestamp": "an unreadable TimeInstant/ts (the receive time was used)",
    "duplicate_reading": "a measure given twice for one instant in one message (the last is kept)",
    "write_failed": "the hub refused or failed an entity write",
}
"""Every rejection reason the agent counts, with its meaning (documented in docs/iot.md)."""


@dataclass
class AgentStats:
    """Counters of one agent process since it started."""

    recent_size: int = 50
    started: float = field(default_factory=time.time)
    messages: Counter[str] = field(default_factory=Counter)
    measurements: int = 0
    batches: int = 0
    entities_written: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    recent: deque[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque(maxlen=self.recent_size)

    def reject(self, device_id: str | None, rejection: Rejection) -> None:
        self.rejected[rejection.reason] += 1
        self.recent.append({"time": time.time(), "device": device_id, **rejection.as_dict()})

    def as_dict(self, devices: Counter[str] | None = None) -> dict[str, Any]:
        return {
            "uptimeSeconds": round(time.time() - self.started, 3),
            "messages": dict(self.messages),
            "measurements": self.measurements,
            "batches": self.batches,
            "entitiesWritten": self.entities_written,
            "rejected": {reason: self.rejected.get(reason, 0) for reason in REASONS},
            "devices": dict(devices or {}),
            "recentRejections": list(self.recent),
        }

    def prometheus(self, devices: Counter[str] | None = None) -> str:
        """The counters in the Prometheus text exposition format."""
        lines = [
            "# HELP smartseoul_iot_messages_total Device messages received, by transport.",
            "# TYPE smartseoul_iot_messages_total counter",
            *(f'smartseoul_iot_messages_total{{transport="{t}"}} {n}' for t, n in sorted(self.messages.items())),
            "# HELP smartseoul_iot_measurements_total Measurements accepted and queued for the hub.",
            "# TYPE smartseoul_iot_measurements_total counter",
            f"smartseoul_iot_measurements_total {self.measurements}",
            "# HELP smartseoul_iot_rejected_total Rejected messages or measurements, by reason.",
            "# TYPE smartseoul_iot_rejected_total counter",
            *(f'smartseoul_iot_rejected_total{{reason="{r}"}} {self.rejected.get(r, 0)}' for r in REASONS),
            "# HELP smartseoul_iot_batches_total Batch upserts sent to the hub.",
            "# TYPE smartseoul_iot_batches_total counter",
            f"smartseoul_iot_batches_total {self.batches}",
            "# HELP smartseoul_iot_entities_written_total Partial entities written by batch upserts.",
            "# TYPE smartseoul_iot_entities_written_total counter",
            f"smartseoul_iot_entities_written_total {self.entities_written}",
            "# HELP smartseoul_iot_devices Provisioned devices known to this agent, by deviceState.",
            "# TYPE smartseoul_iot_devices gauge",
            *(f'smartseoul_iot_devices{{state="{s}"}} {n}' for s, n in sorted((devices or {}).items())),
        ]  # fmt: skip
        return "\n".join(lines) + "\n"
