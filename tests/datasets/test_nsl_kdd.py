"""The NSL-KDD reader and its attack classes."""

from __future__ import annotations

import pytest

from conftest import SHARED_DATA
from smartseoul.datasets import DatasetError
from smartseoul.datasets.nsl_kdd import CLASSES, FEATURES, attack_class, read_nsl_kdd

TRAIN = SHARED_DATA / "cyber" / "nsl-kdd" / "KDDTrain+_20Percent.txt"


def test_attack_classes():
    assert [attack_class(n) for n in ("smurf", "mscan", "snmpguess", "sqlattack")] == [
        "DoS",
        "Probe",
        "R2L",
        "U2R",
    ]
    with pytest.raises(DatasetError, match="unknown NSL-KDD attack"):
        attack_class("zeroday")


def test_nsl_kdd_reader_names_the_bad_row(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0,tcp,http,SF,1\n")
    with pytest.raises(DatasetError, match=r"bad.txt:1: 5 columns"):
        read_nsl_kdd(bad)


@pytest.mark.skipif(not TRAIN.exists(), reason=f"NSL-KDD training file not found at {TRAIN}")
def test_reads_the_training_file():
    rows, labels = read_nsl_kdd(TRAIN)
    assert len(rows) == len(labels) == 25192 and len(FEATURES) == len(rows[0]) == 41
    assert labels.count("normal") == 13449
    assert {attack_class(label) for label in labels} == set(CLASSES)
