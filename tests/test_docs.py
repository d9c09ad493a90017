"""Docs match code: every setting and every CLI command is documented (STYLE.md)."""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from smartseoul.cli import main
from smartseoul.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [
        f"SMARTSEOUL_{name.upper()}"
        for name in Settings.model_fields
        if f"`SMARTSEOUL_{name.upper()}`" not in CONFIG_DOC
    ]
    assert missing == []


def test_every_command_is_documented_and_has_help():
    runner = CliRunner()
    for name, command in main.commands.items():
        assert f"smartseoul {name}" in CONFIG_DOC, name
        assert command.help, f"{name} has no --help text"
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.name} has no help"
            assert param.opts[0] in result.output or param.human_readable_name in result.output


def test_readme_quick_start_has_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111, f"{command} is not executable"
