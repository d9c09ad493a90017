"""The flood commands: help text, and `flood evaluate --json` on real season files."""

from __future__ import annotations

import json

from click.testing import CliRunner
from flood_seasons import season_file

from smartseoul.cli import main
from smartseoul.services import UnknownService, get_service, service_names


def test_help_of_every_flood_command():
    runner = CliRunner()
    for args in (["flood"], ["flood", "train"], ["flood", "evaluate"], ["flood", "run"],
                 ["flood", "load"]):  # fmt: skip
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_registry_names_services_and_refuses_unknown_ones():
    assert "flood" in service_names()
    try:
        get_service("floods")
    except UnknownService as error:
        assert str(error).endswith("valid names: " + ", ".join(service_names()))
    else:
        raise AssertionError("no error")


def test_evaluate_json_shape(tmp_path):
    def cut(year: int, rows: int):
        lines = season_file(year).read_text(encoding="utf-8").splitlines()[: rows + 1]
        path = tmp_path / f"data_{year}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(path)

    train_a, train_b, test = cut(2018, 4000), cut(2017, 3000), cut(2019, 2000)
    result = CliRunner().invoke(
        main, ["flood", "evaluate", "--train", train_a, train_b, "--test", test, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    leads = [str(m) for m in range(10, 181, 10)]
    assert sorted(report["lead_times"], key=int) == leads
    assert set(report["gauges"]) == {"1018662", "1018680", "1018683", "1019630"}
    for gauge in report["gauges"].values():
        assert {"rmse_cm", "r2", "nse"} <= set(gauge)
    for skill in report["lead_times"].values():
        assert {"score", "rmse_cm", "r2"} <= set(skill)
    for name in ("persistence", "linear"):
        baseline = report["baselines"][name]
        assert sorted(baseline["lead_times"], key=int) == leads
        assert baseline["score"] > report["score"]
