"""The intrusion model on the real NSL-KDD training file, the CLI, saved models, anomalies."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SHARED_DATA
from smartseoul.cli import main
from smartseoul.datasets import DatasetError
from smartseoul.datasets.nsl_kdd import read_nsl_kdd
from smartseoul.services.cyber.files import load_model, read_dataset, save_model
from smartseoul.services.cyber.model import (
    ConnectionModel,
    StreamingAnomalyDetector,
    cross_validate,
    dataset_from_nsl_kdd,
)

TRAIN = SHARED_DATA / "cyber" / "nsl-kdd" / "KDDTrain+_20Percent.txt"
needs_data = pytest.mark.skipif(
    not TRAIN.exists(),
    reason=f"NSL-KDD training file not found at {TRAIN} (internal data, not shipped)",
)


@pytest.fixture(scope="module")
def nsl_kdd():
    rows, labels = read_nsl_kdd(TRAIN)
    return dataset_from_nsl_kdd(rows, labels, source=TRAIN.name)


def sample(data, per_class: int, seed: int = 0):
    """A stratified subsample: up to ``per_class`` rows of each class (all the rare ones)."""
    rng = np.random.default_rng(seed)
    keep = []
    for name in data.class_names:
        rows = np.flatnonzero(data.classes == name)
        keep += list(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    return data.subset(np.sort(np.array(keep)))


@needs_data
def test_cross_validated_metrics_have_a_sane_floor(nsl_kdd):
    data = sample(nsl_kdd, 1500)  # ~4,400 rows with every R2L and U2R row: a quick 3-fold CV
    report = cross_validate(data, folds=3)
    assert report["binary"]["accuracy"] >= 0.97
    assert report["binary"]["f1"] >= 0.97
    assert report["binary"]["roc_auc"] >= 0.99
    multi = report["multiclass"]
    assert multi["accuracy"] >= 0.95 and multi["macro_f1"] >= 0.6
    assert multi["recall"]["DoS"] >= 0.97 and multi["recall"]["Probe"] >= 0.95
    assert multi["recall"]["normal"] >= 0.95 and multi["recall"]["R2L"] >= 0.5
    assert set(multi["recall"]) == {"normal", "DoS", "Probe", "R2L", "U2R"}


@needs_data
def test_evaluate_json_on_a_split_of_the_training_file(tmp_path):
    lines = TRAIN.read_text(encoding="utf-8").splitlines()
    random.Random(0).shuffle(lines)
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    train.write_text("\n".join(lines[:6000]) + "\n")
    test.write_text("\n".join(lines[6000:8000]) + "\n")
    result = CliRunner().invoke(
        main,
        [
            "cyber",
            "evaluate",
            "--train",
            str(train),
            "--test",
            str(test),
            "--format",
            "nsl-kdd",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"binary", "multiclass"}
    assert set(report["binary"]) == {"accuracy", "f1", "roc_auc"}
    assert set(report["multiclass"]) == {"accuracy", "macro_f1", "recall"}
    assert {"normal", "DoS", "Probe", "R2L", "U2R"} <= set(report["multiclass"]["recall"])
    assert report["binary"]["accuracy"] > 0.95 and report["multiclass"]["recall"]["DoS"] > 0.95
    assert all(isinstance(v, float) for v in report["binary"].values())


def test_any_csv_with_a_label_column(tmp_path):
    rng = random.Random(1)
    rows = ["duration,proto,bytes,Label"]
    for i in range(400):
        kind = ["BENIGN", "DDoS", "PortScan"][i % 3]
        size = {"BENIGN": 500, "DDoS": 20, "PortScan": 0}[kind] + rng.randrange(50)
        rows.append(f"{rng.random():.3f},{'udp' if kind == 'DDoS' else 'tcp'},{size},{kind}")
    train, test = tmp_path / "a.csv", tmp_path / "b.csv"
    train.write_text("\n".join(rows[:300]) + "\n")
    test.write_text("\n".join([rows[0], *rows[300:]]) + "\n")
    result = CliRunner().invoke(
        main,
        [
            "cyber",
            "evaluate",
            "--train",
            str(train),
            "--test",
            str(test),
            "--format",
            "csv",
            "--label-column",
            "Label",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["binary"]["accuracy"] > 0.9
    assert set(report["multiclass"]["recall"]) == {"normal", "DDoS", "PortScan"}
    with pytest.raises(DatasetError, match="no label column 'class'"):
        read_dataset(train, "csv", label_column="class")


def test_train_saves_versions_with_metrics_and_data_hash(tmp_path):
    rows = ["a,b,label"] + [
        f"{i % 7},{(i * 3) % 5},{'attack' if i % 7 > 4 else 'normal'}" for i in range(300)
    ]
    data_file = tmp_path / "d.csv"
    data_file.write_text("\n".join(rows) + "\n")
    models = tmp_path / "models"
    args = [
        "cyber",
        "train",
        str(data_file),
        "--format",
        "csv",
        "--folds",
        "3",
        "--output",
        str(models),
    ]
    for expected in (1, 2):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert f"v{expected}" in result.output and "| binary (attack vs normal) |" in result.output
    model, meta = load_model(models)
    assert (
        meta["version"] == 2 and meta["data"]["rows"] == 300 and len(meta["data"]["sha256"]) == 64
    )
    assert meta["metrics"]["binary"]["accuracy"] > 0.9
    old, old_meta = load_model(models, version=1)
    assert old_meta["version"] == 1 and isinstance(old, ConnectionModel)
    with pytest.raises(FileNotFoundError, match="versions"):
        load_model(models, version=9)
    with pytest.raises(FileNotFoundError, match="smartseoul cyber train"):
        load_model(tmp_path / "none")
    scored = model.score(read_dataset(data_file, "csv"))
    assert 0.0 <= scored[0]["attack_probability"] <= 1.0 and scored[0]["class"] in (
        "normal",
        "attack",
    )
    assert save_model(model, models, metrics={}, data=data_file).name == "v3"


@needs_data
def test_streaming_anomaly_detector_flags_attacks_it_never_saw(nsl_kdd):
    """No labels: a window of ordinary traffic, then attacks score higher than unseen normal rows."""
    numeric = [n for n in nsl_kdd.features if nsl_kdd.columns[n].dtype != object]
    x = np.log1p(np.column_stack([nsl_kdd.columns[n] for n in numeric]).clip(min=0))
    normal = np.flatnonzero(nsl_kdd.classes == "normal")
    attacks = np.flatnonzero(nsl_kdd.classes != "normal")[:1000]
    detector = StreamingAnomalyDetector(window=2048, refit_every=1024, warm_up=1024)
    detector.update_batch(x[normal[:3072]])  # a stream of ordinary traffic
    held_out = detector.update_batch(x[normal[3072:4072]])
    detector_after = StreamingAnomalyDetector(window=2048, refit_every=1024, warm_up=1024)
    detector_after.update_batch(x[normal[:3072]])
    attack_scores = detector_after.update_batch(x[attacks])
    assert attack_scores.mean() > held_out.mean() + 0.2
