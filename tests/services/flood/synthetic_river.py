"""A small made-up Han River season in the real file format, for tests that must run
without ../shared/data.

The river follows simple physics: Paldang's release travels down to each bridge with a
lag of 2 to 4 hours and a gauge's level grows with the square root of the flow (a rating
curve); the Ganghwa tide rises and falls with the M2 period (12 h 25 min) and reaches
the gauges more the lower the flow. Floods are Gaussian release pulses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from smartseoul.datasets import KST

HEADER = (
    "ymdhm,swl,inf,sfw,ecpc,tototf,tide_level,wl_1018662,fw_1018662,wl_1018680,fw_1018680,"
    "wl_1018683,fw_1018683,wl_1019630,fw_1019630"
)
# Gauge -> (travel time in 10-minute steps, level at no flow in cm, cm per sqrt(m³/s),
# share of the tide that reaches it at low flow), upstream to downstream.
GAUGES = {
    "1018662": (12, 170.0, 6.0, 0.02),
    "1018680": (15, 160.0, 6.2, 0.05),
    "1018683": (18, 150.0, 6.5, 0.10),
    "1019630": (24, 120.0, 5.0, 0.35),
}
BASE_RELEASE = 600.0  # m³/s
M2_STEPS = 74.5  # 12 h 25 min


@dataclass(frozen=True)
class Pulse:
    """A flood release: peak (m³/s above the base) at step ``centre``, ``width`` steps."""

    peak: float
    centre: float
    width: float


def release(step: float, pulses: list[Pulse]) -> float:
    """Paldang's total release at ``step`` (m³/s)."""
    return BASE_RELEASE + sum(
        p.peak * math.exp(-(((step - p.centre) / p.width) ** 2)) for p in pulses
    )


def tide(step: float) -> float:
    """Ganghwa tide level (cm)."""
    return 450.0 + 250.0 * math.sin(2 * math.pi * step / M2_STEPS)


def level_cm(code: str, step: int, pulses: list[Pulse]) -> float:
    """Water level at a bridge gauge (cm of gauge height)."""
    lag, base, per_root, tidal = GAUGES[code]
    flow = release(step - lag, pulses)
    return (
        base + per_root * math.sqrt(flow) + tidal * (tide(step) - 450.0) * math.exp(-flow / 2000.0)
    )


def write_season(path: Path, start: datetime, steps: range, pulses: list[Pulse]) -> Path:
    """Rows ``steps`` (10 minutes each from ``start``, KST) as a ``data_YYYY.csv`` file."""
    lines = [HEADER]
    for i in steps:
        moment = (start + timedelta(minutes=10 * i)).astimezone(KST)
        out = release(i, pulses)
        cells = [
            moment.strftime("%Y-%m-%d %H:%M"),
            "25.1",
            f"{release(i + 6, pulses):.2f}",  # inflow: what the dam releases an hour later
            "215.0",
            "29.0",
            f"{out:.2f}",
            f"{tide(i):.1f}",
        ]
        for code in GAUGES:
            cells += [f"{level_cm(code, i, pulses):.2f}", ""]
        lines.append(",".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
