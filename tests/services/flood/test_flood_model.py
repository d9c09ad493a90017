"""The forecasting model on real seasons: beats both baselines, saves and reloads."""

from __future__ import annotations

import numpy as np
from flood_seasons import records

from smartseoul.services.flood.metrics import evaluate
from smartseoul.services.flood.model import (
    HISTORY_STEPS,
    LEADS,
    FloodModel,
    Persistence,
    fit_flood_model,
    fit_linear_baseline,
    series_from_records,
)


def test_model_beats_baselines_on_an_unseen_flood_season():
    train = [series_from_records(records(2016))]
    test = [series_from_records(records(2013))]  # a larger flood than any in 2016
    model = fit_flood_model(train)
    skill = evaluate(model, test, reference=Persistence())
    persistence = evaluate(Persistence(), test, reference=model)
    linear = evaluate(fit_linear_baseline(train), test, reference=model)
    assert skill["score"] < linear["score"] < persistence["score"]
    assert sorted(skill["lead_times"], key=int) == [str(10 * lead) for lead in LEADS]
    for lead in ("10", "60", "180"):
        assert skill["lead_times"][lead]["rmse_cm"] < persistence["lead_times"][lead]["rmse_cm"]
    for gauge in skill["gauges"].values():
        assert gauge["r2"] > 0.9 and gauge["rmse_cm"] < 20
    # The July 2013 flood: the one-hour forecast of the Hangang Bridge peak.
    july = [e for e in skill["events"] if e["start"].startswith("2013-07-1")]
    assert july, [e["start"] for e in skill["events"]]
    peak = july[0]["gauges"]["1018683"]["60"]
    assert abs(peak["peak_error_cm"]) < 40 and abs(peak["timing_error_min"]) <= 120


def test_latest_forecast_matches_batch_and_round_trips():
    series = series_from_records(records(2019)[:3000])
    model = fit_flood_model([series])
    batch = model.predict(series)[-1]
    latest = model.forecast_latest(series)
    np.testing.assert_allclose(latest, batch, rtol=0, atol=1e-6)
    again = FloodModel.from_dict(model.to_dict())
    np.testing.assert_allclose(again.forecast_latest(series), latest, atol=1e-9)
    assert model.info["data_span"]["start"] == "2019-04-30T15:00:00Z"
    assert series.tail(HISTORY_STEPS + 1).level.shape == (HISTORY_STEPS + 1, 4)


def test_spikes_in_dam_discharge_do_not_reach_the_forecast():
    rows = records(2013)
    series = series_from_records(rows[:4000])
    model = fit_flood_model([series])
    spiked = series.discharge.copy()
    spiked[-1] = 25791.5  # like the file's own spike of 5 June 2013
    from dataclasses import replace

    hit = model.forecast_latest(replace(series, discharge=spiked))
    np.testing.assert_allclose(
        hit,
        model.forecast_latest(
            replace(series, discharge=np.r_[series.discharge[:-1], series.discharge[-2]])
        ),
        atol=1e-9,
    )
