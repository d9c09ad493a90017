"""Benchmark of the cyber security service: parsing, rule matching and model scoring.

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/cyber.py            # ~1 min
    .venv/bin/python bench/cyber.py --quick
    .venv/bin/python bench/cyber.py --json var/bench-cyber.json

Figures, each with its baseline measured in the same run:

1. Suricata EVE JSON events/s through parsing plus every bundled Sigma rule (and the
   correlations), next to parsing alone: the ratio is what the rules cost.
2. The same for syslog lines (RFC 3164 and RFC 5424, sshd, sudo, cron, kernel).
3. Connection scoring rows/s of the intrusion model (binary and five-class, calibrated),
   trained on ../shared/data/cyber/nsl-kdd/KDDTrain+_20Percent.txt when present, else on
   generated rows; baseline: the feature encoding alone.

The events are generated (seeded) to look like a city network: web traffic with a few
percent of attacks, flows, DNS, IDS alerts; sshd logins with brute-force bursts. Target:
>= 20,000 events/s through parsing and >= 50 rules on this machine (2 cores, shared).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartseoul.services.cyber.detection import Detector, bundled_rules_dir  # noqa: E402
from smartseoul.services.cyber.parsers import ParseStats, make_parser, parse_lines  # noqa: E402
from smartseoul.services.cyber.sigma import load_rules  # noqa: E402

NSL_KDD = ROOT.parent / "shared" / "data" / "cyber" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
TARGET = 20_000
PATHS = ["/", "/index.html", "/api/v1/sensors", "/map", "/static/app.js", "/login", "/search?q=seoul",
         "/ngsi-ld/v1/entities?type=AirQualityObserved", "/cctv/stream/12", "/opendata/air.csv"]  # fmt: skip
ATTACKS = ["/item.php?id=1%20union%20select%20password%20from%20users", "/../../etc/passwd",
           "/index.php?page=php://filter/resource=index", "/cgi-bin/luci/;stok=/locale",
           "/?q=<script>alert(1)</script>", "/.env", "/shell.php?cmd=id"]  # fmt: skip
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)",
          "curl/8.5.0", "sqlmap/1.7.2#stable", "python-requests/2.31"]  # fmt: skip


def eve_lines(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = 1795000000 + i * 0.01
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            + f".{int(t * 1e6) % 1000000:06d}+0000"
        )
        src = f"{rng.choice(['10.1', '203.0', '198.51'])}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        dst = f"10.0.{rng.randrange(4)}.{rng.randrange(1, 40)}"
        base = {"timestamp": stamp, "flow_id": rng.randrange(1 << 50), "in_iface": "eth0",
                "src_ip": src, "src_port": rng.randrange(1024, 65535), "dest_ip": dst}  # fmt: skip
        r = rng.random()
        if r < 0.4:
            url = rng.choice(ATTACKS) if rng.random() < 0.03 else rng.choice(PATHS)
            base.update(event_type="http", dest_port=80, proto="TCP", http={
                "hostname": "city.example.kr", "url": url, "http_user_agent": rng.choice(AGENTS),
                "http_method": "GET", "protocol": "HTTP/1.1", "status": rng.choice([200, 200, 304, 404]),
                "length": rng.randrange(20000)})  # fmt: skip
        elif r < 0.7:
            base.update(event_type="flow", dest_port=rng.choice([443, 80, 53, 22, 8883, 1883, 3389]),
                        proto="TCP", app_proto="tls", flow={
                            "pkts_toserver": rng.randrange(1, 50), "pkts_toclient": rng.randrange(50),
                            "bytes_toserver": rng.randrange(40, 90000), "bytes_toclient": rng.randrange(90000),
                            "start": stamp, "end": stamp, "age": 1, "state": "closed", "reason": "timeout"})  # fmt: skip
        elif r < 0.85:
            name = "x" * 45 + ".tunnel.example" if rng.random() < 0.01 else "www.seoul.go.kr"
            base.update(event_type="dns", dest_port=53, proto="UDP",
                        dns={"type": "query", "id": i % 65536, "rrname": name, "rrtype": "A"})  # fmt: skip
        elif r < 0.95:
            base.update(event_type="alert", dest_port=rng.choice([80, 445, 23]), proto="TCP", alert={
                "action": "allowed", "gid": 1, "signature_id": 2000000 + rng.randrange(1000), "rev": 1,
                "signature": rng.choice(["ET SCAN Suspicious inbound to mySQL port 3306",
                                         "ET POLICY curl User-Agent Outbound", "ET EXPLOIT Possible Mirai"]),
                "category": rng.choice(["Attempted Information Leak", "Potentially Bad Traffic",
                                        "Attempted Administrator Privilege Gain"]),
                "severity": rng.choice([1, 2, 3])})  # fmt: skip
        else:
            base.update(event_type="tls", dest_port=443, proto="TCP",
                        tls={"sni": "api.seoul.go.kr", "version": "TLS 1.3"})  # fmt: skip
        out.append(orjson.dumps(base).decode())
    return out


def syslog_lines(n: int, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    hosts = [f"gw-{i}" for i in range(8)] + ["cctv-nvr-1", "iot-hub"]
    out = []
    for i in range(n):
        sec = i // 20
        host = rng.choice(hosts)
        ip = (
            f"203.0.113.{rng.randrange(1, 30)}"
            if rng.random() < 0.5
            else f"10.2.0.{rng.randrange(1, 250)}"
        )
        r = rng.random()
        if r < 0.35:
            msg = (f"sshd[{1000 + i % 5000}]: Failed password for "
                   f"{rng.choice(['invalid user admin', 'root', 'kim', 'invalid user pi'])} from {ip} port {rng.randrange(30000, 60000)} ssh2")  # fmt: skip
        elif r < 0.45:
            msg = f"sshd[{1000 + i % 5000}]: Accepted publickey for kim from {ip} port {rng.randrange(30000, 60000)} ssh2"
        elif r < 0.6:
            msg = f"CRON[{2000 + i % 999}]: (root) CMD (/usr/lib/sensors/collect.sh)"
        elif r < 0.7:
            msg = "sudo: kim : TTY=pts/0 ; PWD=/home/kim ; USER=root ; COMMAND=/usr/bin/systemctl restart mqtt"
        else:
            msg = f"kernel: [UFW BLOCK] IN=eth0 OUT= SRC={ip} DST=10.0.0.1 PROTO=TCP SPT=5000 DPT={rng.randrange(1, 1024)}"
        if rng.random() < 0.5:
            out.append(
                f"<38>Nov 28 {9 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} {host} {msg}"
            )
        else:
            app, _, rest = msg.partition(": ")
            name, _, pid = app.partition("[")
            out.append(f"<38>1 2026-11-28T{9 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.000Z "
                       f"{host} {name} {pid.rstrip(']') or '-'} - - {rest}")  # fmt: skip
    return out


def rate(fn, lines: list[str], repeat: int) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(lines)
        best = min(best, time.perf_counter() - start)
    return len(lines) / best, result


def stream_figures(name: str, fmt: str, lines: list[str], repeat: int) -> dict[str, float]:
    def parse_only(batch: list[str]) -> int:
        return sum(1 for _ in parse_lines(batch, make_parser(fmt), ParseStats()))

    rules, correlations = load_rules([bundled_rules_dir()])  # compiled once, outside the timing

    def parse_and_match(batch: list[str]) -> int:
        detector = Detector(rules, correlations)  # fresh correlation windows for each run
        alerts = 0
        process = detector.process
        for event in parse_lines(batch, make_parser(fmt), ParseStats()):
            alerts += len(process(event))
        return alerts

    detector = Detector(rules, correlations)
    parsed, events = rate(parse_only, lines, repeat)
    matched, alerts = rate(parse_and_match, lines, repeat)
    figure = {
        "events": events, "rules": len(detector.rules), "correlations": len(detector.correlations),
        "parse_events_per_s": round(parsed), "parse_match_events_per_s": round(matched),
        "ratio_to_parsing": round(matched / parsed, 3), "alerts": alerts,
    }  # fmt: skip
    verdict = "meets" if matched >= TARGET else "MISSES"
    print(f"{name:7} parse only {parsed:10,.0f} ev/s | parse + {figure['rules']} rules + "
          f"{figure['correlations']} correlations {matched:10,.0f} ev/s (ratio {figure['ratio_to_parsing']:.2f}; "
          f"{alerts} alerts) -> {verdict} target {TARGET:,} ev/s")  # fmt: skip
    return figure


def scoring_figures(quick: bool) -> dict[str, float]:
    import numpy as np

    from smartseoul.datasets.nsl_kdd import read_nsl_kdd
    from smartseoul.services.cyber.model import ConnectionModel, dataset_from_nsl_kdd

    if NSL_KDD.exists():
        rows, labels = read_nsl_kdd(NSL_KDD)
        source = NSL_KDD.name
    else:  # generated rows in the NSL-KDD layout
        rng = np.random.default_rng(0)
        rows, labels = [], []
        for i in range(4000):
            attack = i % 3 == 0
            rows.append([str(rng.integers(0, 5)), "tcp", "http" if attack else "ftp", "S0" if attack else "SF",
                         *[str(rng.random() * (2 if attack else 1)) for _ in range(37)]])  # fmt: skip
            labels.append("neptune" if attack else "normal")
        source = "generated"
    data = dataset_from_nsl_kdd(rows, labels, source=source)
    train_index = np.arange(len(data)) % 5 != 0
    model = ConnectionModel.fit(data.subset(np.flatnonzero(train_index)))
    test = data.subset(np.flatnonzero(~train_index))
    repeat = 1 if quick else 3
    best_score = best_encode = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        model.encoder.transform(test)
        best_encode = min(best_encode, time.perf_counter() - start)
        start = time.perf_counter()
        model.score(test)
        best_score = min(best_score, time.perf_counter() - start)
    figure = {"rows": len(test), "score_rows_per_s": round(len(test) / best_score),
              "encode_rows_per_s": round(len(test) / best_encode), "source": source}  # fmt: skip
    print(
        f"model   scoring {figure['score_rows_per_s']:10,} rows/s (binary + five-class, calibrated; "
        f"encoding alone {figure['encode_rows_per_s']:,} rows/s; {len(test)} rows of {source})"
    )
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    repeat = 1 if args.quick else 3
    print(
        f"# bench/cyber.py on {platform.node()} ({platform.python_implementation()} "
        f"{platform.python_version()}), {n:,} events per stream, best of {repeat}"
    )
    figures = {
        "eve": stream_figures("eve", "eve", eve_lines(n), repeat),
        "syslog": stream_figures("syslog", "syslog", syslog_lines(n), repeat),
        "model": scoring_figures(args.quick),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
