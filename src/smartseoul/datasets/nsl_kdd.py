"""NSL-KDD network connection records (Canadian Institute for Cybersecurity, UNB).

Each line is one connection: 41 features, the label (``normal`` or an attack name) and a
difficulty level, comma-separated, without a header row. The attack names map to the four
attack classes of the original KDD Cup 99 task (DoS, Probe, R2L, U2R); the mapping below
also covers the attacks that appear only in the test files, so a model trained on the
training file can be scored on any NSL-KDD split.
"""

from __future__ import annotations

import csv
from pathlib import Path

from smartseoul.datasets import DatasetError

__all__ = [
    "ATTACK_CLASSES",
    "CATEGORICAL",
    "CLASSES",
    "FEATURES",
    "attack_class",
    "read_nsl_kdd",
]

FEATURES: tuple[str, ...] = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip
"""The 41 connection features, in file order."""

CATEGORICAL = frozenset({"protocol_type", "service", "flag"})
CLASSES: tuple[str, ...] = ("normal", "DoS", "Probe", "R2L", "U2R")

ATTACK_CLASSES: dict[str, str] = {
    **dict.fromkeys(
        (
            "apache2",
            "back",
            "land",
            "mailbomb",
            "neptune",
            "pod",
            "processtable",
            "smurf",
            "teardrop",
            "udpstorm",
            "worm",
        ),
        "DoS",
    ),  # fmt: skip
    **dict.fromkeys(("ipsweep", "mscan", "nmap", "portsweep", "saint", "satan"), "Probe"),
    **dict.fromkeys(
        (
            "ftp_write",
            "guess_passwd",
            "httptunnel",
            "imap",
            "multihop",
            "named",
            "phf",
            "sendmail",
            "snmpgetattack",
            "snmpguess",
            "spy",
            "warezclient",
            "warezmaster",
            "xlock",
            "xsnoop",
        ),
        "R2L",
    ),  # fmt: skip
    **dict.fromkeys(
        ("buffer_overflow", "loadmodule", "perl", "ps", "rootkit", "sqlattack", "xterm"), "U2R"
    ),
}
"""Attack name -> class, for every attack in the NSL-KDD training and test files."""


def attack_class(label: str) -> str:
    """The five-class label of an NSL-KDD label.

    Examples
    --------
    >>> attack_class("neptune"), attack_class("normal"), attack_class("guess_passwd.")
    ('DoS', 'normal', 'R2L')
    >>> attack_class("zeroday")
    Traceback (most recent call last):
    ...
    smartseoul.datasets.DatasetError: unknown NSL-KDD attack 'zeroday'; known: apache2, back, ...
    """
    name = label.strip().rstrip(".")
    if name == "normal":
        return "normal"
    try:
        return ATTACK_CLASSES[name]
    except KeyError:
        known = ", ".join(sorted(ATTACK_CLASSES)[:2])
        raise DatasetError(f"unknown NSL-KDD attack {name!r}; known: {known}, ...") from None


def read_nsl_kdd(path: Path) -> tuple[list[list[str]], list[str]]:
    """Rows of the 41 features (as text) and the raw labels of an NSL-KDD file.

    Accepts the 43-column files (with difficulty) and the 42-column KDD Cup 99 layout.
    """
    rows: list[list[str]] = []
    labels: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) not in (42, 43):
                raise DatasetError(
                    f"{path}:{number}: {len(row)} columns; NSL-KDD has 41 features, the label "
                    "and (optionally) the difficulty"
                )
            rows.append(row[:41])
            labels.append(row[41].strip().rstrip("."))
    if not rows:
        raise DatasetError(f"{path}: no records")
    return rows, labels
