"""``smartseoul cyber``: ingest logs, listen for syslog, list rules, train and evaluate models."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from smartseoul.config import Settings

__all__ = ["command"]

_existing = click.Path(exists=True, path_type=Path)
_LOG_FORMATS = ["auto", "syslog", "eve", "zeek", "flow"]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


@click.group(name="cyber", help="AI security control: log ingestion, Sigma detection, incidents "
             "and the intrusion prediction model.")  # fmt: skip
def command() -> None:
    pass


@command.command(help="Ingest log files (syslog, Suricata EVE, Zeek conn.log, flows): store the "
                 "events, run the rules, write alerts and incidents to the hub.")  # fmt: skip
@click.argument("paths", nargs=-1, required=True, type=_existing)
@click.option("--format", "fmt", type=click.Choice(_LOG_FORMATS), default="auto", show_default=True,
              help="Log format (auto: guessed from each file's first line).")  # fmt: skip
@click.option("--url", default=None, help="NGSI-LD base URL of the hub (default: the local store).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the local stores (default: ./var or SMARTSEOUL_DATA_DIR).")  # fmt: skip
@click.option("--tenant", default="", help="NGSI-LD tenant for alerts and incidents.")
@click.option("--follow", is_flag=True, default=False,
              help="Keep reading what is appended to the files (like tail -f).")  # fmt: skip
def ingest(paths: tuple[Path, ...], fmt: str, url: str | None, data_dir: Path | None,
           tenant: str, follow: bool) -> None:  # fmt: skip
    from smartseoul.ingest.cli import open_hub
    from smartseoul.services.cyber.service import make_pipeline, tail_file

    settings = _settings(data_dir)

    async def work() -> list[dict[str, Any]]:
        async with open_hub(settings, url) as (client, _):
            pipeline = make_pipeline(settings, client, tenant=tenant)
            try:
                reports = await asyncio.gather(*[tail_file(pipeline, p, fmt, follow=follow)
                                                 for p in paths])  # fmt: skip
            finally:
                assert pipeline.store is not None
                pipeline.store.close()
            return [{"file": str(p), **r.as_dict()} for p, r in zip(paths, reports, strict=True)]

    for report in asyncio.run(work()):
        skipped = sum(report["skipped"].values())
        click.echo(f"{report['file']}: {report['lines']} lines, {report['events']} events, "
                   f"{report['alerts']} alerts, {report['incidents']} incidents; {skipped} skipped")  # fmt: skip
        for reason, count in report["skipped"].items():
            click.echo(f"  skipped {count}: {reason} (e.g. {report['examples'][reason][:80]!r})")
        if report["expired"]:
            click.echo(f"  {report['expired']} events older than the retention period "
                       f"({settings.cyber_retention_days:g} days) were analysed, not stored "
                       "(SMARTSEOUL_CYBER_RETENTION_DAYS)")  # fmt: skip


@command.command(help="Listen for syslog (RFC 5424 and RFC 3164) over UDP and TCP and run the "
                 "live pipeline until interrupted.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--udp-port", type=int, default=5514, show_default=True, help="UDP port (-1: none).")
@click.option("--tcp-port", type=int, default=5514, show_default=True, help="TCP port (-1: none).")
@click.option("--url", default=None, help="NGSI-LD base URL of the hub (default: the local store).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of the local stores (default: ./var or SMARTSEOUL_DATA_DIR).")  # fmt: skip
def listen(host: str, udp_port: int, tcp_port: int, url: str | None, data_dir: Path | None) -> None:
    from smartseoul.ingest.cli import open_hub
    from smartseoul.services.cyber.service import SyslogListener, make_pipeline

    settings = _settings(data_dir)

    async def work() -> None:
        async with open_hub(settings, url) as (client, _):
            listener = SyslogListener(make_pipeline(settings, client), host=host,
                                      udp_port=udp_port if udp_port >= 0 else None,
                                      tcp_port=tcp_port if tcp_port >= 0 else None)  # fmt: skip
            await listener.start()
            click.echo(f"syslog on {host} udp:{listener.udp_port} tcp:{listener.tcp_port}")
            try:
                await asyncio.Event().wait()
            finally:
                await listener.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


@command.command(help="List the Sigma rules (bundled and SMARTSEOUL_CYBER_RULES), or run them "
                 "on a log file and count alerts per rule.")  # fmt: skip
@click.option("--rules", "extra", multiple=True, type=_existing,
              help="More rule files or folders (repeatable).")  # fmt: skip
@click.option("--run", "run_file", type=_existing, default=None,
              help="A log file to run the rules on (no hub, no store).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(_LOG_FORMATS), default="auto", show_default=True,
              help="Log format of --run.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, default=False, help="Print JSON.")
def rules(extra: tuple[Path, ...], run_file: Path | None, fmt: str, as_json: bool) -> None:
    from smartseoul.services.cyber.detection import load_detector
    from smartseoul.services.cyber.service import CyberPipeline, rule_paths

    detector = load_detector([*rule_paths(Settings()), *extra])
    if run_file is None:
        listing: list[dict[str, Any]] = [{"id": r.id, "title": r.title, "level": r.level, "kind": "rule",
                    "techniques": r.techniques, "alerts": r.id not in detector.silent} for r in detector.rules]  # fmt: skip
        listing += [{"id": c.id, "title": c.title, "level": c.level, "kind": c.type,
                     "techniques": c.techniques, "alerts": True} for c in detector.correlations]  # fmt: skip
        if as_json:
            sys.stdout.write(json.dumps(listing, ensure_ascii=False) + "\n")
            return
        for item in listing:
            click.echo(f"{item['level']:13} {item['kind']:16} {','.join(item['techniques']) or '-':24} "
                       f"{item['title']}")  # fmt: skip
        click.echo(f"{len(detector.rules)} rules, {len(detector.correlations)} correlations")
        return
    pipeline = CyberPipeline(detector, anomaly=False)
    with run_file.open(encoding="utf-8", errors="replace") as handle:
        events, alerts = pipeline.process(handle, fmt, source=str(run_file))
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[alert.title] = counts.get(alert.title, 0) + 1
    if as_json:
        sys.stdout.write(
            json.dumps({"events": len(events), "alerts": counts}, ensure_ascii=False) + "\n"
        )
        return
    click.echo(f"{len(events)} events, {len(alerts)} alerts")
    for title, count in sorted(counts.items(), key=lambda kv: -kv[1]):
        click.echo(f"{count:8}  {title}")


def _data_options(func: Any) -> Any:
    func = click.option("--label-column", default="label", show_default=True,
                        help="Label column of a csv file (normal/benign/0 rows are normal).")(func)  # fmt: skip
    func = click.option("--format", "fmt", type=click.Choice(["nsl-kdd", "csv"]), default="nsl-kdd",
                        show_default=True, help="nsl-kdd (no header) or csv (header, label column).")(func)  # fmt: skip
    return func


@command.command(help="Train the intrusion model (binary and multiclass, calibrated) on a file, "
                 "report stratified k-fold cross-validated metrics and save it as a new version.")  # fmt: skip
@click.argument("path", type=_existing)
@_data_options
@click.option("--folds", type=click.IntRange(0, 20), default=5, show_default=True,
              help="Cross-validation folds (0: skip cross-validation).")  # fmt: skip
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Model folder (default: SMARTSEOUL_CYBER_MODEL_DIR or DATA_DIR/cyber-models).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the metrics as JSON.")
def train(path: Path, fmt: str, label_column: str, folds: int, output: Path | None,
          as_json: bool) -> None:  # fmt: skip
    from smartseoul.services.cyber.files import read_dataset, save_model
    from smartseoul.services.cyber.model import ConnectionModel, cross_validate
    from smartseoul.services.cyber.service import model_dir

    data = read_dataset(path, fmt, label_column=label_column)
    metrics = cross_validate(data, folds=folds) if folds >= 2 else {}
    model = ConnectionModel.fit(data)
    target = save_model(model, output or model_dir(Settings()), metrics=metrics, data=path)
    if as_json:
        sys.stdout.write(json.dumps({"model": str(target), "cross_validation": metrics}) + "\n")
        return
    if metrics:
        click.echo(metrics_table(metrics))
    click.echo(f"trained on {len(data)} rows of {path.name}; saved to {target}")


def metrics_table(metrics: dict[str, Any]) -> str:
    """Cross-validated metrics as a Markdown table."""
    binary, multi = metrics["binary"], metrics["multiclass"]
    rows = [f"{metrics['folds']}-fold stratified cross-validation, {metrics['rows']} rows",
            "", "| task | accuracy | F1 / macro-F1 | ROC AUC |", "|---|---|---|---|",
            f"| binary (attack vs normal) | {binary['accuracy']:.4f} | {binary['f1']:.4f} | {binary['roc_auc']:.4f} |",
            f"| multiclass | {multi['accuracy']:.4f} | {multi['macro_f1']:.4f} | |",
            "", "| class | recall |", "|---|---|"]  # fmt: skip
    rows += [f"| {name} | {'-' if value is None else f'{value:.4f}'} |"
             for name, value in multi["recall"].items()]  # fmt: skip
    return "\n".join(rows)


@command.command(help="Train on --train, score --test and print the metrics (binary accuracy, "
                 "F1, ROC AUC; multiclass accuracy, macro-F1, recall per class).")  # fmt: skip
@click.option("--train", "train_path", required=True, type=_existing, help="Training file.")
@click.option("--test", "test_path", required=True, type=_existing, help="Test file.")
@_data_options
@click.option("--json", "as_json", is_flag=True, default=False,
              help="Print one JSON object: {binary: {...}, multiclass: {...}}.")  # fmt: skip
def evaluate(train_path: Path, test_path: Path, fmt: str, label_column: str, as_json: bool) -> None:
    from smartseoul.services.cyber.files import read_dataset
    from smartseoul.services.cyber.model import evaluate as run

    report = run(read_dataset(train_path, fmt, label_column=label_column),
                 read_dataset(test_path, fmt, label_column=label_column))  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    b, m = report["binary"], report["multiclass"]
    click.echo(
        f"binary:     accuracy {b['accuracy']:.4f}  F1 {b['f1']:.4f}  ROC AUC {b['roc_auc']:.4f}"
    )
    click.echo(f"multiclass: accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}")
    for name, value in m["recall"].items():
        click.echo(f"  recall {name:8} {'-' if value is None else f'{value:.4f}'}")
