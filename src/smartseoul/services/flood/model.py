"""Water-level forecasts at the four Han River bridge gauges, 10 minutes to 3 hours ahead.

Pure computation: aligned input series, physically motivated features, the forecasting
model and the two baselines it is judged against. No files, no hub, no web.

The model is one ridge regression per gauge and lead time that predicts the level
**change** from now to the lead time. Its inputs are what moves the river at Seoul:

- Paldang dam's total discharge at travel-time lags (the release of the last six hours),
  on a square-root scale because a gauge's level grows roughly with the square root of
  its flow (a rating curve ``h ~ Q^b`` with ``b`` near 0.5);
- dam inflow and its trend (what the dam will have to release next);
- the gauge's own recent level changes, the other gauges' levels relative to it (the
  water-surface slope) and their changes;
- the Ganghwa tide now, and the tide change expected by the lead time, read from the
  tide one lunar day and half a lunar day earlier (the tide repeats with the M2 period).

A linear core extrapolates in a known way beyond the floods it was trained on, which a
tree ensemble cannot; the square-root scale keeps that extrapolation from growing faster
than the river does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from smartseoul.datasets.han_river import HanRiverRecord

__all__ = [
    "GAUGE_CODES",
    "LEADS",
    "STEP_SECONDS",
    "FloodModel",
    "LinearBaseline",
    "Persistence",
    "RiverSeries",
    "fit_flood_model",
    "fit_linear_baseline",
    "series_from_records",
]

GAUGE_CODES: tuple[str, ...] = ("1018662", "1018680", "1018683", "1019630")
"""Cheongdam, Jamsu, Hangang and Haengju bridges, upstream to downstream."""
STEP_SECONDS = 600
LEADS: tuple[int, ...] = tuple(range(1, 19))
"""Lead times in 10-minute steps: 10 to 180 minutes."""
MAX_SERIES_STEPS = 366 * 144
"""Longest series read from one file: a year of 10-minute steps (a season is 184 days)."""

_DISCHARGE_LAGS = (0, 3, 6, 9, 12, 18, 24, 36)  # steps: the release of the last 6 hours
_LEVEL_CHANGES = (1, 3, 6, 12)
_LUNAR_DAY = 149  # 24 h 50 min in 10-minute steps: the tide repeats (M2 twice)
_HALF_LUNAR_DAY = 75
_FILL_LEVEL_STEPS = 6  # a level missing for an hour is carried forward, longer is a gap
_INFLOW_MEAN_STEPS = 6  # dam inflow is derived from storage and noisy: an hourly mean
# The dam files carry one-step spikes (25,791 m³/s between two readings of 550 in June
# 2013); real releases changed by at most about 3,200 m³/s in ten minutes in 2012-2019.
MAX_JUMP_M3S = 6000.0
HISTORY_STEPS = _LUNAR_DAY + 1
"""Steps of input a forecast needs before its own time (the tide a lunar day back)."""


@dataclass(frozen=True)
class RiverSeries:
    """Aligned 10-minute inputs over one span, ``NaN`` where missing.

    ``level`` is ``(n, 4)`` in cm of gauge height, in :data:`GAUGE_CODES` order;
    ``discharge`` and ``inflow`` at Paldang dam in m³/s; ``tide`` at Ganghwa in cm.
    """

    start: float
    """Epoch seconds of the first step."""
    level: np.ndarray
    discharge: np.ndarray
    inflow: np.ndarray
    tide: np.ndarray

    def __len__(self) -> int:
        return int(self.level.shape[0])

    def times(self) -> np.ndarray:
        """Epoch seconds of every step."""
        return self.start + STEP_SECONDS * np.arange(len(self), dtype=float)

    def tail(self, steps: int) -> RiverSeries:
        """The last ``steps`` steps."""
        cut = max(0, len(self) - steps)
        return RiverSeries(
            self.start + cut * STEP_SECONDS,
            self.level[cut:],
            self.discharge[cut:],
            self.inflow[cut:],
            self.tide[cut:],
        )


def series_from_records(records: Iterable[HanRiverRecord]) -> RiverSeries:
    """Season-file rows as a :class:`RiverSeries`; missing rows and cells become ``NaN``.

    Examples
    --------
    >>> from datetime import datetime
    >>> from smartseoul.datasets import KST
    >>> row = HanRiverRecord(datetime(2019, 7, 1, tzinfo=KST), 25.0, 300.0, None, None, 280.0,
    ...                      400.0, {c: 300.0 for c in GAUGE_CODES}, {})
    >>> s = series_from_records([row])
    >>> len(s), float(s.discharge[0]), float(s.level[0, 2])
    (1, 280.0, 300.0)
    """
    rows = sorted(records, key=lambda r: r.time)
    if not rows:
        raise ValueError("no records")
    start = rows[0].time.timestamp()
    n = int(round((rows[-1].time.timestamp() - start) / STEP_SECONDS)) + 1
    if n > MAX_SERIES_STEPS:  # a wrong year in one row would ask for a grid over centuries
        raise ValueError(f"records from {rows[0].time:%Y-%m-%d %H:%M} to "
                         f"{rows[-1].time:%Y-%m-%d %H:%M} span more than a year of 10-minute "
                         "steps; a season file covers one flood season")  # fmt: skip
    level = np.full((n, len(GAUGE_CODES)), np.nan)
    discharge, inflow, tide = (np.full(n, np.nan) for _ in range(3))
    for row in rows:
        i = int(round((row.time.timestamp() - start) / STEP_SECONDS))
        discharge[i] = _num(row.dam_discharge)
        inflow[i] = _num(row.dam_inflow)
        tide[i] = _num(row.tide_level_cm)
        for g, code in enumerate(GAUGE_CODES):
            level[i, g] = _num(row.water_level_cm.get(code))
    return RiverSeries(start, level, discharge, inflow, tide)


def _num(value: float | None) -> float:
    return np.nan if value is None else float(value)


# ---------------------------------------------------------------------------- features


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` moved ``k`` steps later (``out[t] = x[t - k]``); ``k < 0`` looks ahead."""
    out = np.full_like(x, np.nan)
    if k == 0:
        out[:] = x
    elif k > 0:
        out[k:] = x[:-k]
    else:
        out[:k] = x[-k:]
    return out


def _despike(x: np.ndarray, max_jump: float = MAX_JUMP_M3S) -> np.ndarray:
    """Negative values and one-step jumps over ``max_jump`` that come straight back -> NaN.

    A jump at the last step cannot be confirmed yet and is held back too: a forecast made
    on a spike would be wrong for every lead time, one made a step late only slightly.

    Examples
    --------
    >>> _despike(np.array([500.0, 25791.5, 456.0, 460.0, 7000.0])).tolist()
    [500.0, nan, 456.0, 460.0, nan]
    """
    out = np.where(x >= 0, x, np.nan)
    prev, nxt = _shift(_ffill(out), 1), _shift(out, -1)
    out[(np.abs(out - prev) > max_jump) & (np.abs(out - nxt) > max_jump)] = np.nan
    # The newest value, judged against what is left before it.
    last = np.flatnonzero(np.isfinite(out))
    if len(last) > 1 and abs(out[last[-1]] - out[last[-2]]) > max_jump:
        out[last[-1]] = np.nan
    return out


def _mean(x: np.ndarray, steps: int) -> np.ndarray:
    """Trailing mean over ``steps`` (shorter at the start); ``x`` has no NaN after the first value."""
    finite = np.nan_to_num(x)
    total = np.cumsum(finite)
    out = total - _shift(total, steps)
    out[:steps] = total[:steps]
    count = np.minimum(np.arange(1, len(x) + 1), steps)
    return np.where(np.isfinite(x), out / count, np.nan)


def _ffill(x: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Carry the last value forward over gaps, at most ``limit`` steps."""
    n = len(x)
    index = np.where(np.isfinite(x), np.arange(n), -1)
    last = np.maximum.accumulate(index)
    out = np.where(last >= 0, x[np.maximum(last, 0)], np.nan)
    if limit is not None:
        out[np.arange(n) - last > limit] = np.nan
    return out


def clean_discharge(series: RiverSeries) -> np.ndarray:
    """Paldang's total release with spikes removed and gaps carried forward (m³/s)."""
    return _ffill(_despike(series.discharge))


@dataclass(frozen=True)
class _Inputs:
    """Gap-filled inputs, computed once per series and shared by every gauge and lead."""

    level: np.ndarray
    root_discharge: np.ndarray
    root_inflow: np.ndarray
    tide: np.ndarray


def _inputs(series: RiverSeries) -> _Inputs:
    tide = series.tide.copy()
    # A missing tide is taken from a lunar day earlier, then carried for at most an hour.
    gap = ~np.isfinite(tide)
    tide[gap] = _shift(series.tide, _LUNAR_DAY)[gap]
    level = np.column_stack(
        [_ffill(series.level[:, g], _FILL_LEVEL_STEPS) for g in range(len(GAUGE_CODES))]
    )
    return _Inputs(
        level=level,
        root_discharge=np.sqrt(clean_discharge(series)),
        root_inflow=np.sqrt(
            _mean(_ffill(_despike(np.clip(series.inflow, 0, None))), _INFLOW_MEAN_STEPS)
        ),
        tide=_ffill(tide, _FILL_LEVEL_STEPS),
    )


def feature_names(gauge: int) -> list[str]:
    """Names of the features of one gauge's models, in column order."""
    names = [f"level_{GAUGE_CODES[gauge]}"]
    names += [f"change{k}_{GAUGE_CODES[gauge]}" for k in _LEVEL_CHANGES]
    for j, code in enumerate(GAUGE_CODES):
        if j != gauge:
            names += [f"slope_{code}", f"change1_{code}", f"change6_{code}"]
    names += [f"sqrt_discharge_lag{k}" for k in _DISCHARGE_LAGS]
    names += ["sqrt_inflow", "sqrt_inflow_change6", "tide", "tide_change1"]
    names += ["tide_ahead_lunar_day", "tide_ahead_half_lunar_day", "tide_ahead_x_low_flow"]
    return names


def _base_features(inputs: _Inputs, gauge: int) -> np.ndarray:
    """Features that do not depend on the lead time: ``(n, F - 3)``."""
    own = inputs.level[:, gauge]
    columns = [own]
    columns += [own - _shift(own, k) for k in _LEVEL_CHANGES]
    for j in range(len(GAUGE_CODES)):
        if j != gauge:
            other = inputs.level[:, j]
            columns += [other - own, other - _shift(other, 1), other - _shift(other, 6)]
    columns += [_shift(inputs.root_discharge, k) for k in _DISCHARGE_LAGS]
    q_in = inputs.root_inflow
    columns += [q_in, q_in - _shift(q_in, 6)]
    columns += [inputs.tide, inputs.tide - _shift(inputs.tide, 1)]
    return np.column_stack(columns)


def _lead_features(inputs: _Inputs, lead: int) -> np.ndarray:
    """The tide change expected by the lead time, from one and a half lunar days back.

    High river flow pushes the tide out of Seoul, so the tide term is also given scaled
    by a factor that fades as the release grows (1 at no release, 1/e at 2,000 m³/s).
    """
    tide = inputs.tide
    ahead = _shift(tide, _LUNAR_DAY - lead) - _shift(tide, _LUNAR_DAY)
    half = _shift(tide, _HALF_LUNAR_DAY - lead) - _shift(tide, _HALF_LUNAR_DAY)
    low_flow = np.exp(-(inputs.root_discharge**2) / 2000.0)
    return np.column_stack([ahead, half, ahead * low_flow])


def _design(inputs: _Inputs, gauge: int, lead: int, base: np.ndarray | None = None) -> np.ndarray:
    if base is None:
        base = _base_features(inputs, gauge)
    return np.hstack([base, _lead_features(inputs, lead)])


# ---------------------------------------------------------------------------- ridge


@dataclass
class _Ridge:
    """``y = intercept + ((x - mean) / scale) @ coef``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + ((x - self.mean) / self.scale) @ self.coef)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> _Ridge:
        return cls(
            np.asarray(data["mean"], dtype=float),
            np.asarray(data["scale"], dtype=float),
            np.asarray(data["coef"], dtype=float),
            float(data["intercept"]),
        )


def _fit_ridge(
    x: np.ndarray, y: np.ndarray, alpha: float, weight: np.ndarray | None = None
) -> _Ridge:
    if not len(y):
        raise ValueError("no complete rows to train on: the training data need hours of "
                         "consecutive 10-minute readings of the dam, the tide and every gauge")  # fmt: skip
    w = np.ones(len(y)) if weight is None else weight / weight.mean()
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    y_mean = float(np.average(y, weights=w))
    zw = z * w[:, None]
    gram = zw.T @ z + alpha * np.eye(z.shape[1])
    coef = np.linalg.solve(gram, zw.T @ (y - y_mean))
    return _Ridge(mean, scale, coef, y_mean)


def _rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.isfinite(y) & np.isfinite(x).all(axis=1)


# ---------------------------------------------------------------------------- models


class Persistence:
    """The level stays where it is: the baseline every forecast must beat."""

    name = "persistence"

    def predict(self, series: RiverSeries) -> np.ndarray:
        """Forecasts for every step: ``(n, gauges, leads)`` in cm, ``NaN`` without input."""
        level = _inputs(series).level
        return np.repeat(level[:, :, None], len(LEADS), axis=2)


@dataclass
class LinearBaseline:
    """Ordinary least squares from the current raw inputs to each future level."""

    models: list[list[_Ridge]]
    name = "linear"

    def predict(self, series: RiverSeries) -> np.ndarray:
        x = _raw_inputs(series)
        out = np.full((len(series), len(GAUGE_CODES), len(LEADS)), np.nan)
        for g, per_lead in enumerate(self.models):
            for h, ridge in enumerate(per_lead):
                out[:, g, h] = ridge.predict(x)
        return out


def _raw_inputs(series: RiverSeries) -> np.ndarray:
    """The current inputs on their own scales, cleaned as for the flood model."""
    inputs = _inputs(series)
    return np.column_stack(
        [inputs.level, inputs.root_discharge**2, inputs.root_inflow**2, inputs.tide]
    )


def fit_linear_baseline(train: Sequence[RiverSeries]) -> LinearBaseline:
    """The linear baseline: levels, discharge, inflow and tide now -> level at each lead."""
    models = []
    for g in range(len(GAUGE_CODES)):
        per_lead = []
        for lead in LEADS:
            xs, ys = [], []
            for series in train:
                x = _raw_inputs(series)
                y = _shift(x[:, g], -lead)
                keep = _rows(x, y)
                xs.append(x[keep])
                ys.append(y[keep])
            per_lead.append(_fit_ridge(np.vstack(xs), np.concatenate(ys), alpha=1e-6))
        models.append(per_lead)
    return LinearBaseline(models)


@dataclass
class FloodModel:
    """Per-gauge, per-lead ridge models of the level change (see the module docstring).

    ``info`` carries what was trained on (data span, rows) and, once evaluated, the
    metrics; it is saved with the model.
    """

    models: list[list[_Ridge]]
    alpha: float
    info: dict[str, Any] = field(default_factory=dict)
    name = "ridge"

    def predict(self, series: RiverSeries) -> np.ndarray:
        """Forecasts for every step of ``series``: ``(n, gauges, leads)``, cm.

        A forecast needs the current level of its gauge; where it (or another input) is
        missing the forecast is ``NaN``.
        """
        inputs = _inputs(series)
        out = np.full((len(series), len(GAUGE_CODES), len(LEADS)), np.nan)
        for g, per_lead in enumerate(self.models):
            base = _base_features(inputs, g)
            for h, (lead, ridge) in enumerate(zip(LEADS, per_lead, strict=True)):
                x = _design(inputs, g, lead, base)
                out[:, g, h] = inputs.level[:, g] + ridge.predict(x)
        return out

    def forecast_latest(self, series: RiverSeries) -> np.ndarray:
        """Forecasts from the last step only: ``(gauges, leads)`` in cm.

        Only the last :data:`HISTORY_STEPS` steps are used, so the cost does not grow with
        the history kept.
        """
        return self.predict(series.tail(HISTORY_STEPS + 1))[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "smartseoul.flood.ridge",
            "version": 1,
            "gauges": list(GAUGE_CODES),
            "leads_minutes": [lead * STEP_SECONDS // 60 for lead in LEADS],
            "alpha": self.alpha,
            "features": {code: feature_names(g) for g, code in enumerate(GAUGE_CODES)},
            "models": [[ridge.to_dict() for ridge in per_lead] for per_lead in self.models],
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FloodModel:
        if data.get("kind") != "smartseoul.flood.ridge":
            raise ValueError("not a smartseoul flood model")
        if list(data["gauges"]) != list(GAUGE_CODES):
            raise ValueError(f"model gauges {data['gauges']} differ from {list(GAUGE_CODES)}")
        models = [[_Ridge.from_dict(r) for r in per_lead] for per_lead in data["models"]]
        return cls(models, float(data["alpha"]), dict(data.get("info", {})))


def fit_flood_model(
    train: Sequence[RiverSeries], *, alpha: float = 1.0, high_flow_weight: float = 0.0
) -> FloodModel:
    """Fit the flood model on one or more series (seasons are never joined across gaps).

    Parameters
    ----------
    train
        Training series, e.g. one per flood season.
    alpha
        Ridge penalty on standardised features.
    high_flow_weight
        Extra weight of a training row per 1,000 m³/s released at Paldang: floods are
        rare in the seasons but are what the forecasts are for.
    """
    if not train:
        raise ValueError("no training data")
    prepared = [_inputs(series) for series in train]
    models = []
    rows = 0
    for g in range(len(GAUGE_CODES)):
        bases = [_base_features(inputs, g) for inputs in prepared]
        per_lead = []
        for lead in LEADS:
            xs, ys, ws = [], [], []
            for inputs, base in zip(prepared, bases, strict=True):
                x = _design(inputs, g, lead, base)
                y = _shift(inputs.level[:, g], -lead) - inputs.level[:, g]
                keep = _rows(x, y)
                xs.append(x[keep])
                ys.append(y[keep])
                ws.append(1.0 + high_flow_weight * inputs.root_discharge[keep] ** 2 / 1000.0)
            x_all, y_all = np.vstack(xs), np.concatenate(ys)
            rows = max(rows, len(y_all))
            per_lead.append(_fit_ridge(x_all, y_all, alpha, np.concatenate(ws)))
        models.append(per_lead)
    info = {
        "training_rows": rows,
        "data_span": data_span(train),
        "high_flow_weight": high_flow_weight,
    }
    return FloodModel(models, alpha, info)


def data_span(series: Sequence[RiverSeries]) -> dict[str, str]:
    """First and last time covered, ISO 8601 UTC."""
    from datetime import UTC

    first = min(s.start for s in series)
    last = max(s.start + (len(s) - 1) * STEP_SECONDS for s in series)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "start": datetime.fromtimestamp(first, UTC).strftime(fmt),
        "end": datetime.fromtimestamp(last, UTC).strftime(fmt),
    }
