"""Intrusion prediction: connection classifiers, a streaming anomaly detector, metrics (pure).

Two calibrated random-forest classifiers score a connection: *binary* (attack or
normal) and *multiclass* (normal, DoS, Probe, R2L, U2R for NSL-KDD; the file's own labels
for any other CSV). Categorical features (protocol, service, TCP flag, ...) are encoded as
category codes; categories never seen in training are treated as missing. Probabilities are calibrated by isotonic regression on held-out folds
(``CalibratedClassifierCV``), so a score of 0.9 means about nine in ten such connections
were attacks in training.

:class:`StreamingAnomalyDetector` catches what neither a rule nor a label knows: an
isolation forest refitted on a sliding window of recent connections scores each new one by
its rank among the window's scores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import IsolationForest

# scikit-learn (and scipy under it) is imported where a model is trained, scored or
# evaluated, not with this module: the hub imports the service's routes at startup, and
# ~60 MB of libraries would sit in every API worker that never touches a model.

from smartseoul.datasets import DatasetError
from smartseoul.datasets.nsl_kdd import CATEGORICAL, CLASSES, FEATURES, attack_class

__all__ = [
    "ConnectionModel",
    "Dataset",
    "FeatureEncoder",
    "StreamingAnomalyDetector",
    "binary_metrics",
    "cross_validate",
    "dataset_from_nsl_kdd",
    "dataset_from_table",
    "evaluate",
    "multiclass_metrics",
]

NORMAL_LABELS = frozenset({"normal", "benign", "0", "false", "legitimate"})
_CALIBRATION_FOLDS = 3
_MAX_CATEGORIES = 250  # the trees' categorical bins; rarer categories become "missing"


@dataclass
class Dataset:
    """Connection records: feature columns, raw labels and the class of each record."""

    features: list[str]
    columns: dict[str, np.ndarray]  # float64 for numbers, object (str) for categories
    labels: np.ndarray
    classes: np.ndarray  # the multiclass target (five classes for NSL-KDD)
    class_names: list[str]
    source: str = ""

    @property
    def attack(self) -> np.ndarray:
        return np.asarray(self.classes != "normal")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(
            self.features, {k: v[index] for k, v in self.columns.items()}, self.labels[index],
            self.classes[index], self.class_names, self.source,
        )  # fmt: skip


def _column(values: Sequence[str]) -> np.ndarray:
    """Numbers as float64 (blank as NaN), or the text when any cell is not a number."""
    try:
        return np.array([float(v) if v.strip() else np.nan for v in values], dtype=np.float64)
    except ValueError:
        return np.array([v.strip() for v in values], dtype=object)


def dataset_from_nsl_kdd(rows: list[list[str]], labels: list[str], *, source: str = "") -> Dataset:
    """An NSL-KDD dataset from :func:`smartseoul.datasets.nsl_kdd.read_nsl_kdd` output."""
    columns = {}
    for i, name in enumerate(FEATURES):
        cells = [row[i] for row in rows]
        if name in CATEGORICAL:
            columns[name] = np.array(cells, dtype=object)
        else:
            columns[name] = _column(cells)
    classes = np.array([attack_class(label) for label in labels], dtype=object)
    return Dataset(list(FEATURES), columns, np.array(labels, dtype=object), classes,
                   list(CLASSES), source)  # fmt: skip


def dataset_from_table(
    header: list[str], rows: list[list[str]], *, label_column: str, source: str = "",
    drop: Sequence[str] = (),
) -> Dataset:  # fmt: skip
    """Any table with a label column: ``normal``/``benign``/``0`` rows are the normal class.

    Other labels are kept as the multiclass target; columns named in ``drop`` (identifiers,
    timestamps) are left out of the features.

    Examples
    --------
    >>> d = dataset_from_table(["a", "proto", "label"],
    ...     [["1", "tcp", "BENIGN"], ["2", "udp", "DDoS"]], label_column="label")
    >>> d.features, list(d.classes), d.class_names
    (['a', 'proto'], ['normal', 'DDoS'], ['normal', 'DDoS'])
    """
    if label_column not in header:
        raise DatasetError(
            f"{source}: no label column {label_column!r}; columns: {', '.join(header)}"
        )
    at = header.index(label_column)
    wanted = [i for i, name in enumerate(header) if i != at and name not in drop]
    width = len(header)
    rows = [row for row in rows if len(row) == width]
    if not rows:
        raise DatasetError(f"{source}: no rows with {width} columns")
    labels = np.array([row[at].strip() for row in rows], dtype=object)
    classes = np.array(
        ["normal" if label.lower() in NORMAL_LABELS else label for label in labels], dtype=object
    )
    columns = {header[i]: _column([row[i] for row in rows]) for i in wanted}
    names = ["normal", *sorted(set(classes.tolist()) - {"normal"})]
    return Dataset([header[i] for i in wanted], columns, labels, classes, names, source)


class FeatureEncoder:
    """Feature columns -> a float matrix; categories become codes (unseen ones NaN)."""

    def __init__(self) -> None:
        self.features: list[str] = []
        self.categories: dict[str, dict[str, int]] = {}

    def fit(self, data: Dataset) -> FeatureEncoder:
        self.features = list(data.features)
        self.categories = {}
        for name in self.features:
            column = data.columns[name]
            if column.dtype == object:
                values, counts = np.unique(column.astype(str), return_counts=True)
                top = values[np.argsort(-counts, kind="stable")][:_MAX_CATEGORIES]
                self.categories[name] = {str(v): i for i, v in enumerate(sorted(top))}
        return self

    def transform(self, data: Dataset) -> np.ndarray:
        out = np.empty((len(data), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            if name not in data.columns:
                raise DatasetError(f"{data.source}: no feature column {name!r}")
            column = data.columns[name]
            codes = self.categories.get(name)
            if codes is None:
                if column.dtype == object:
                    column = _column([str(v) for v in column])
                    if column.dtype == object:
                        raise DatasetError(f"{data.source}: column {name!r} is not numeric")
                out[:, j] = column
            else:
                out[:, j] = [codes.get(str(v), np.nan) for v in column]
        return out


def _classifier(*, seed: int) -> CalibratedClassifierCV:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier

    # A random forest: single-threaded (no OpenMP contention on a shared machine), robust
    # on nearly separable classes, and it takes NaN for unseen categories.
    trees = RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=seed)
    return CalibratedClassifierCV(trees, method="isotonic", cv=_CALIBRATION_FOLDS)


@dataclass
class ConnectionModel:
    """The binary and multiclass classifiers over one feature encoding."""

    encoder: FeatureEncoder
    binary: Any
    multiclass: Any
    class_names: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(cls, data: Dataset, *, seed: int = 0) -> ConnectionModel:
        """Train both classifiers on ``data``."""
        if len(set(data.attack.tolist())) < 2:
            raise DatasetError(f"{data.source}: training needs both normal and attack rows")
        encoder = FeatureEncoder().fit(data)
        x, classes = encoder.transform(data), data.classes.astype(str)
        # Calibration holds out folds of each class: a class with fewer rows than folds is
        # repeated so it keeps a place (and a probability) in the model.
        labels, counts = np.unique(classes, return_counts=True)
        extra = [np.repeat(np.flatnonzero(classes == n), -(-_CALIBRATION_FOLDS // c) - 1)
                 for n, c in zip(labels, counts, strict=True) if c < _CALIBRATION_FOLDS]  # fmt: skip
        if extra:
            index = np.concatenate([np.arange(len(classes)), *extra])
            x, classes = x[index], classes[index]
        binary = _classifier(seed=seed).fit(x, (classes != "normal").astype(int))
        multiclass = _classifier(seed=seed).fit(x, classes)
        present = set(data.classes.tolist())
        names = [c for c in data.class_names if c in present]
        return cls(encoder, binary, multiclass, names, {"rows": len(data)})

    def attack_probability(self, data: Dataset) -> np.ndarray:
        """Calibrated probability that each connection is an attack."""
        return np.asarray(self.binary.predict_proba(self.encoder.transform(data))[:, 1])

    def predict_class(self, data: Dataset) -> np.ndarray:
        """The most probable class of each connection."""
        return np.asarray(self.multiclass.predict(self.encoder.transform(data)))

    def score(self, data: Dataset) -> list[dict[str, Any]]:
        """Per connection: attack probability, class and the class probabilities."""
        x = self.encoder.transform(data)
        attack = self.binary.predict_proba(x)[:, 1]
        proba = self.multiclass.predict_proba(x)
        names = [str(c) for c in self.multiclass.classes_]
        return [
            {
                "attack_probability": round(float(a), 4),
                "class": names[int(np.argmax(p))],
                "probabilities": {n: round(float(v), 4) for n, v in zip(names, p, strict=True)},
            }
            for a, p in zip(attack, proba, strict=True)
        ]


def binary_metrics(attack: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    """Accuracy, F1 (attack as the positive class) and ROC AUC at threshold 0.5."""
    predicted = probability >= 0.5
    both = len(set(attack.tolist())) == 2
    return {
        "accuracy": round(float(accuracy_score(attack, predicted)), 4),
        "f1": round(float(f1_score(attack, predicted, zero_division=0)), 4),
        "roc_auc": round(float(roc_auc_score(attack, probability)), 4) if both else float("nan"),
    }


def multiclass_metrics(
    truth: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 over the classes present in ``truth``, and recall per class.

    A class absent from ``truth`` has no recall (``None``).
    """
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    truth, predicted = truth.astype(str), predicted.astype(str)
    present = [c for c in class_names if c in set(truth.tolist())]
    recalls = recall_score(truth, predicted, labels=present, average=None, zero_division=0)
    recall: dict[str, float | None] = dict.fromkeys(class_names)
    recall.update({c: round(float(r), 4) for c, r in zip(present, recalls, strict=True)})
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(
            float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0)), 4
        ),  # fmt: skip
        "recall": recall,
    }


def evaluate(train: Dataset, test: Dataset, *, seed: int = 0) -> dict[str, Any]:
    """Train on ``train``, score ``test``: ``{"binary": {...}, "multiclass": {...}}``."""
    if list(train.features) != list(test.features):
        missing = sorted(set(train.features) - set(test.features))
        raise DatasetError(f"train and test columns differ (missing in test: {missing})")
    model = ConnectionModel.fit(train, seed=seed)
    names = list(dict.fromkeys([*train.class_names, *test.class_names]))
    return {
        "binary": binary_metrics(test.attack, model.attack_probability(test)),
        "multiclass": multiclass_metrics(test.classes, model.predict_class(test), names),
    }


def cross_validate(data: Dataset, *, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold cross-validation: pooled out-of-fold metrics, and their per-fold spread.

    Folds are stratified on the multiclass target, so each fold holds the rare classes.
    """
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold

    truth = data.classes.astype(str)
    smallest = min(np.unique(truth, return_counts=True)[1])
    if smallest < folds:
        raise DatasetError(f"{data.source}: a class has {smallest} rows, fewer than {folds} folds")
    probability = np.zeros(len(data))
    predicted = np.empty(len(data), dtype=object)
    per_fold: list[dict[str, float]] = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(np.zeros(len(data)), truth):
        model = ConnectionModel.fit(data.subset(train_index), seed=seed)
        test = data.subset(test_index)
        probability[test_index] = model.attack_probability(test)
        predicted[test_index] = model.predict_class(test)
        per_fold.append({
            "accuracy": float(accuracy_score(test.attack, probability[test_index] >= 0.5)),
            "macro_f1": float(f1_score(truth[test_index], predicted[test_index].astype(str),
                                       average="macro", zero_division=0)),
        })  # fmt: skip
    return {
        "folds": folds,
        "rows": len(data),
        "binary": binary_metrics(data.attack, probability),
        "multiclass": multiclass_metrics(data.classes, predicted, data.class_names),
        "fold_std": {
            key: round(float(np.std([f[key] for f in per_fold])), 4)
            for key in ("accuracy", "macro_f1")
        },
    }


class StreamingAnomalyDetector:
    """Anomaly scores in [0, 1] for a stream of feature vectors, learning as it goes.

    An isolation forest is refitted every ``refit_every`` vectors on the last ``window``
    ones; a vector's score is the fraction of the window it is more anomalous than. Until
    ``warm_up`` vectors have been seen every score is 0 (nothing to compare with).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> detector = StreamingAnomalyDetector(window=256, refit_every=128, warm_up=128)
    >>> scores = [detector.update(v) for v in rng.normal(size=(300, 3))]
    >>> detector.update(np.array([9.0, 9.0, 9.0])) > 0.95
    True
    """

    def __init__(self, *, window: int = 2048, refit_every: int = 512, warm_up: int = 256,
                 seed: int = 0):  # fmt: skip
        self.window, self.refit_every, self.warm_up, self.seed = window, refit_every, warm_up, seed
        self.recent: deque[np.ndarray] = deque(maxlen=window)
        self.forest: IsolationForest | None = None
        self.reference = np.zeros(0)
        self.seen = 0

    def _refit(self) -> None:
        from sklearn.ensemble import IsolationForest

        x = np.vstack(self.recent)
        self.forest = IsolationForest(n_estimators=64, random_state=self.seed).fit(x)
        self.reference = np.sort(-self.forest.score_samples(x))

    def score(self, vector: np.ndarray) -> float:
        """The anomaly score of one vector, without learning from it."""
        if self.forest is None:
            return 0.0
        value = -self.forest.score_samples(vector.reshape(1, -1))[0]
        return float(np.searchsorted(self.reference, value, side="left") / len(self.reference))

    def update_batch(self, vectors: np.ndarray) -> np.ndarray:
        """Score a batch against the current window, then learn from it (one refit at most)."""
        vectors = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
        if self.forest is None or not len(vectors):
            scores = np.zeros(len(vectors))
        else:
            values = -self.forest.score_samples(vectors)
            scores = np.searchsorted(self.reference, values, side="left") / len(self.reference)
        before = self.seen
        self.recent.extend(vectors)
        self.seen += len(vectors)
        due = self.seen // self.refit_every > before // self.refit_every
        if self.seen >= self.warm_up and (self.forest is None or due):
            self._refit()
        return np.asarray(scores)

    def update(self, vector: np.ndarray) -> float:
        """Score one vector, then add it to the window (refitting when due)."""
        vector = np.asarray(vector, dtype=np.float64)
        result = self.score(vector)
        self.recent.append(vector)
        self.seen += 1
        if self.seen >= self.warm_up and (self.forest is None or self.seen % self.refit_every == 0):
            self._refit()
        return result
