"""The command line: settings and options that cannot work are one clear line, not a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from smartseoul.cli import main
from smartseoul.config import Settings, settings_problem


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SMARTSEOUL_PORT": "x"}, "SMARTSEOUL_PORT: Input should be a valid integer"),
        ({"SMARTSEOUL_PORT": "99999"}, "SMARTSEOUL_PORT: Input should be less than or equal"),
        ({"SMARTSEOUL_MAX_LIMIT": "-1"}, "SMARTSEOUL_MAX_LIMIT: Input should be greater than"),
        ({"SMARTSEOUL_POSTGRES_POOL_SIZE": "0"}, "SMARTSEOUL_POSTGRES_POOL_SIZE: Input should"),
        ({"SMARTSEOUL_LOG_LEVEL": "loud"}, "SMARTSEOUL_LOG_LEVEL: Input should be 'DEBUG'"),
        (
            {"SMARTSEOUL_DEFAULT_LIMIT": "50", "SMARTSEOUL_MAX_LIMIT": "10"},
            "SMARTSEOUL_DEFAULT_LIMIT (50) is above SMARTSEOUL_MAX_LIMIT (10)",
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["serve"], ["demo"], ["flood", "run", "--url", "http://127.0.0.1:1"]]
)
def test_a_bad_setting_is_a_usage_error_naming_it(command, env, line, tmp_path):
    # These were pydantic tracebacks (a bad value) or accepted (a port past 65535, a
    # negative limit, a default page larger than the largest).
    result = CliRunner().invoke(main, command, env={**env, "SMARTSEOUL_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Error: invalid settings:\n" + line in result.output
    assert "Traceback" not in result.output


def test_port_and_data_dir_are_checked_before_starting(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--port", "99999"])
    assert result.exit_code == 2
    assert "Invalid value for '--port': 99999 is not in the range 0<=x<=65535" in result.output
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(blocked / "var")])
    assert result.exit_code == 1
    assert (
        result.output == f"Error: cannot use {blocked / 'var'} for the database: Not a directory\n"
    )


def test_settings_problem_names_each_setting():
    with pytest.raises(ValidationError) as caught:
        Settings(port=-1, context_fetch_timeout=0, log_level="info")
    assert settings_problem(caught.value).splitlines() == [
        "SMARTSEOUL_PORT: Input should be greater than or equal to 0 (got -1)",
        "SMARTSEOUL_CONTEXT_FETCH_TIMEOUT: Input should be greater than 0 (got 0)",
    ]
    assert Settings(log_level="warning").log_level == "WARNING"
