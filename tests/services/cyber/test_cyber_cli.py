"""``smartseoul cyber`` commands: ingest into a local hub, list and run rules."""

from __future__ import annotations

import json

from click.testing import CliRunner

from smartseoul.cli import main

LINES = [
    f"<38>Nov 28 01:00:{i:02d} gw-1 sshd[7]: Failed password for invalid user u{i} from "
    f"203.0.113.66 port {40000 + i} ssh2"
    for i in range(12)
] + ["garbage"]


def test_ingest_into_the_local_hub_and_event_store(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("\n".join(LINES) + "\n")
    result = CliRunner().invoke(main, ["cyber", "ingest", str(log), "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "13 lines, 12 events" in result.output and "incidents; 1 skipped" in result.output
    assert "skipped 1: not syslog (RFC 3164 or 5424) (e.g. 'garbage')" in result.output
    assert (tmp_path / "cyber-events.db").exists() and (tmp_path / "smartseoul.db").exists()


def test_rules_list_and_run(tmp_path):
    listing = CliRunner().invoke(main, ["cyber", "rules", "--json"])
    assert listing.exit_code == 0
    rules = json.loads(listing.output)
    assert len(rules) >= 50 and {"event_count", "value_count", "temporal_ordered", "rule"} <= {
        r["kind"] for r in rules
    }
    log = tmp_path / "auth.log"
    log.write_text("\n".join(LINES) + "\n")
    run = CliRunner().invoke(main, ["cyber", "rules", "--run", str(log), "--json"])
    counts = json.loads(run.output)
    assert counts["events"] == 12 and counts["alerts"]["SSH brute force from one source"] == 1
    extra = tmp_path / "mine.yml"
    extra.write_text(
        "title: Mine\nid: m1\ndetection: {s: {user.name: u3}, condition: s}\nlevel: low\n"
    )
    run = CliRunner().invoke(
        main, ["cyber", "rules", "--rules", str(extra), "--run", str(log), "--json"]
    )
    assert json.loads(run.output)["alerts"]["Mine"] == 1
