"""Files of the cyber service: training data and saved, versioned intrusion models.

A saved model is a folder ``DIR/v<N>/`` with ``model.joblib`` (the fitted classifiers) and
``meta.json`` (version, creation time, metrics, SHA-256 of the training file, row count,
library versions). Loading reads local files only and never downloads anything; only load
models you trained (joblib files can run code when loaded).
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from smartseoul.datasets import DatasetError, decode_text
from smartseoul.datasets.nsl_kdd import read_nsl_kdd
from smartseoul.services.cyber.model import (
    ConnectionModel,
    Dataset,
    dataset_from_nsl_kdd,
    dataset_from_table,
)

__all__ = ["DATA_FORMATS", "file_sha256", "load_model", "read_dataset", "save_model"]

DATA_FORMATS = ("nsl-kdd", "csv")


def read_dataset(path: Path, fmt: str = "nsl-kdd", *, label_column: str = "label",
                 drop: tuple[str, ...] = ()) -> Dataset:  # fmt: skip
    """An NSL-KDD file, or any CSV with a header row and a label column."""
    if fmt == "nsl-kdd":
        rows, labels = read_nsl_kdd(path)
        return dataset_from_nsl_kdd(rows, labels, source=path.name)
    if fmt == "csv":
        text = decode_text(path.read_bytes(), source=str(path))
        table = list(csv.reader(text.splitlines()))
        if not table:
            raise DatasetError(f"{path}: empty")
        header = [h.strip() for h in table[0]]
        return dataset_from_table(header, table[1:], label_column=label_column,
                                  source=path.name, drop=drop)  # fmt: skip
    raise DatasetError(f"unknown data format {fmt!r}; valid formats: {', '.join(DATA_FORMATS)}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: ConnectionModel, folder: Path, *, metrics: dict[str, Any],
               data: Path) -> Path:  # fmt: skip
    """Save as the next version under ``folder``; returns the version's folder."""
    folder.mkdir(parents=True, exist_ok=True)
    versions = [int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit()]
    version = max(versions, default=0) + 1
    target = folder / f"v{version}"
    target.mkdir()
    import joblib  # with scikit-learn, only where a model is saved or loaded

    joblib.dump(model, target / "model.joblib", compress=3)
    meta = {
        "version": version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "metrics": metrics,
        "data": {"file": data.name, "sha256": file_sha256(data), "rows": model.info.get("rows")},
        "classes": model.class_names,
        "features": model.encoder.features,
        "sklearn": metadata.version("scikit-learn"),
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return target


def load_model(folder: Path, version: int | None = None) -> tuple[ConnectionModel, dict[str, Any]]:
    """A saved model (the latest version unless one is named) and its metadata."""
    versions = sorted(int(p.name[1:]) for p in folder.glob("v*") if p.name[1:].isdigit())
    if not versions:
        raise FileNotFoundError(
            f"no saved model under {folder}; train one with smartseoul cyber train"
        )
    chosen = version if version is not None else versions[-1]
    if chosen not in versions:
        raise FileNotFoundError(f"no version {chosen} under {folder}; versions: {versions}")
    target = folder / f"v{chosen}"
    meta = json.loads((target / "meta.json").read_text(encoding="utf-8"))
    import joblib

    model = joblib.load(target / "model.joblib")
    if not isinstance(model, ConnectionModel):
        raise TypeError(f"{target}: not a smartseoul connection model")
    return model, meta
