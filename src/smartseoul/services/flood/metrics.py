"""Skill of water-level forecasts: RMSE, R², NSE, the 2022 competition score, flood peaks.

Pure computation on arrays. Forecast arrays are ``(n, gauges, leads)`` in cm, issued at
every step of a series; the observation a forecast is compared with is the level
``lead`` steps later.

Definitions
-----------
- ``rmse_cm``: root mean squared error in cm.
- ``r2``: the coefficient of determination, ``1 - SSE / SST`` (scikit-learn's
  ``r2_score``, as in the 2022 Han River water-level competition).
- ``nse``: the Nash–Sutcliffe efficiency. Its formula is the same as ``r2``'s over one
  series; it is reported under its hydrological name, per gauge over all lead times.
- ``score``: the competition's ``RMSE / R²``, each averaged over the four gauges
  (lower is better).
- Flood events: spans where Paldang releases at least ``event_discharge`` m³/s, widened
  by 12 hours before and 24 hours after. Per event, gauge and lead: the peak of the
  forecast (issued ``lead`` earlier) minus the observed peak in cm, and the time between
  them in minutes (positive: the forecast peak comes late).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from smartseoul.services.flood.model import (
    GAUGE_CODES,
    LEADS,
    STEP_SECONDS,
    RiverSeries,
    clean_discharge,
)

__all__ = ["Forecaster", "evaluate", "flood_events", "nse", "r2", "rmse", "skill_report"]

EVENT_DISCHARGE = 5000.0
_EVENT_BEFORE = 72  # steps: 12 hours
_EVENT_AFTER = 144  # steps: 24 hours
_REPORTED_PEAK_LEADS = (6, 18)  # steps: 1 hour and 3 hours ahead
_PEAK_WINDOW = 72  # steps: a forecast peak is looked for within 12 hours of the observed


class Forecaster(Protocol):
    name: str

    def predict(self, series: RiverSeries) -> np.ndarray: ...


def rmse(observed: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error.

    Examples
    --------
    >>> rmse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    1.414...
    """
    return float(np.sqrt(np.mean((forecast - observed) ** 2)))


def r2(observed: np.ndarray, forecast: np.ndarray) -> float:
    """Coefficient of determination ``1 - SSE / SST``.

    Examples
    --------
    >>> r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    1.0
    """
    sst = float(np.sum((observed - observed.mean()) ** 2))
    if sst == 0:
        return float("nan")
    return 1.0 - float(np.sum((forecast - observed) ** 2)) / sst


nse = r2
"""Nash–Sutcliffe efficiency: the same formula, under its hydrological name."""


def _pairs(series: RiverSeries, forecasts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Observed and forecast levels aligned: both ``(n, gauges, leads)``, NaN where absent."""
    n = len(series)
    observed = np.full(forecasts.shape, np.nan)
    for h, lead in enumerate(LEADS):
        observed[: n - lead, :, h] = series.level[lead:]
    return observed, forecasts


def evaluate(
    forecaster: Forecaster,
    test: Sequence[RiverSeries],
    *,
    reference: Forecaster | None = None,
    event_discharge: float = EVENT_DISCHARGE,
) -> dict[str, Any]:
    """Metrics of one forecaster on test series (the JSON shape of ``flood evaluate``).

    Only steps where every compared forecaster (``forecaster`` and ``reference``) has a
    forecast and the observation exists are scored, so that baselines are judged on the
    same points.
    """
    pairs = [_pairs(s, forecaster.predict(s)) for s in test]
    masks = [np.isfinite(o) & np.isfinite(f) for o, f in pairs]
    if reference is not None:
        masks = [m & np.isfinite(reference.predict(s)) for m, s in zip(masks, test, strict=True)]
    observed = np.concatenate([o for o, _ in pairs])
    forecast = np.concatenate([f for _, f in pairs])
    mask = np.concatenate(masks)
    empty = [code for g, code in enumerate(GAUGE_CODES) if not mask[:, g, :].any(axis=0).all()]
    if empty:  # its metrics would be NaN, which JSON cannot carry
        raise ValueError(f"nothing to score at some lead time of gauge(s) {', '.join(empty)}: "
                         "the test data need hours of consecutive 10-minute readings")  # fmt: skip
    report = skill_report(observed, forecast, mask)
    report["events"] = _event_peaks(test, pairs, masks, event_discharge)
    return report


def skill_report(observed: np.ndarray, forecast: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Score, per-gauge and per-lead metrics from aligned ``(n, gauges, leads)`` arrays."""
    gauges: dict[str, Any] = {}
    for g, code in enumerate(GAUGE_CODES):
        keep = mask[:, g, :]
        o, f = observed[:, g, :][keep], forecast[:, g, :][keep]
        gauges[code] = {
            "rmse_cm": rmse(o, f),
            "r2": r2(o, f),
            "nse": nse(o, f),
            "n": int(keep.sum()),
        }
    lead_times: dict[str, Any] = {}
    for h, lead in enumerate(LEADS):
        per_gauge = []
        for g in range(len(GAUGE_CODES)):
            keep = mask[:, g, h]
            o, f = observed[:, g, h][keep], forecast[:, g, h][keep]
            per_gauge.append((rmse(o, f), r2(o, f)))
        mean_rmse = float(np.mean([p[0] for p in per_gauge]))
        mean_r2 = float(np.mean([p[1] for p in per_gauge]))
        lead_times[str(lead * STEP_SECONDS // 60)] = {
            "score": mean_rmse / mean_r2,
            "rmse_cm": mean_rmse,
            "r2": mean_r2,
            "gauges": {
                code: {"rmse_cm": p[0], "r2": p[1]}
                for code, p in zip(GAUGE_CODES, per_gauge, strict=True)
            },
        }
    mean_rmse = float(np.mean([g["rmse_cm"] for g in gauges.values()]))
    mean_r2 = float(np.mean([g["r2"] for g in gauges.values()]))
    return {
        "score": mean_rmse / mean_r2,
        "rmse_cm": mean_rmse,
        "r2": mean_r2,
        "gauges": gauges,
        "lead_times": lead_times,
    }


def flood_events(series: RiverSeries, threshold: float = EVENT_DISCHARGE) -> list[slice]:
    """Spans around releases of at least ``threshold`` m³/s (merged when they overlap).

    Examples
    --------
    >>> q = np.zeros(1000); q[500:510] = 6000.0
    >>> s = RiverSeries(0.0, np.zeros((1000, 4)), q, q, q)
    >>> flood_events(s)
    [slice(428, 654, None)]
    """
    high = np.flatnonzero(np.nan_to_num(clean_discharge(series)) >= threshold)
    spans: list[list[int]] = []
    for i in high.tolist():
        start, stop = max(0, i - _EVENT_BEFORE), min(len(series), i + _EVENT_AFTER + 1)
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], stop)
        else:
            spans.append([start, stop])
    return [slice(a, b) for a, b in spans]


def _event_peaks(
    test: Sequence[RiverSeries],
    pairs: list[tuple[np.ndarray, np.ndarray]],
    masks: list[np.ndarray],
    threshold: float,
) -> list[dict[str, Any]]:
    """Per event and gauge: the forecast peak near the observed one, at 1 h and 3 h ahead.

    Arrays are indexed by issue time; at a fixed lead that is the target time shifted, so
    differences of positions are timing errors. The forecast peak is looked for within
    12 hours of the observed one.
    """
    events = []
    for series, (observed, forecast), mask in zip(test, pairs, masks, strict=True):
        for span in flood_events(series, threshold):
            event: dict[str, Any] = {
                "start": _iso(series.start + span.start * STEP_SECONDS),
                "end": _iso(series.start + (span.stop - 1) * STEP_SECONDS),
                "peak_discharge_m3s": float(np.nanmax(clean_discharge(series)[span])),
                "gauges": {},
            }
            for g, code in enumerate(GAUGE_CODES):
                per_lead = {}
                for lead in _REPORTED_PEAK_LEADS:
                    h = LEADS.index(lead)
                    keep = mask[span, g, h]
                    if not keep.any():
                        continue
                    o = np.where(keep, observed[span, g, h], -np.inf)
                    peak = int(np.argmax(o))
                    near = slice(max(0, peak - _PEAK_WINDOW), peak + _PEAK_WINDOW + 1)
                    f = np.where(keep[near], forecast[span, g, h][near], -np.inf)
                    found = int(np.argmax(f)) + near.start
                    per_lead[str(lead * STEP_SECONDS // 60)] = {
                        "time": _iso(series.start + (span.start + peak + lead) * STEP_SECONDS),
                        "observed_peak_cm": float(o[peak]),
                        "peak_error_cm": float(f[found - near.start] - o[peak]),
                        "timing_error_min": (found - peak) * STEP_SECONDS // 60,
                    }
                event["gauges"][code] = per_lead
            events.append(event)
    return events


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
