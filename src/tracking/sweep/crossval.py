"""Cross-validated trial values on small data: one validation split of a few hundred rows is a
coin toss between trials, k folds of the whole training pool are not.

``-P cv_folds=auto`` (the default) cross-validates when the training pool (training and
validation rows together) has at most ``CV_MAX_ROWS`` rows: sklearn's digits (1 437 rows) and
the red-wine CSV (about 1 220) get ``AUTO_FOLDS`` folds, MNIST (60 000) keeps its one split.
``cv_folds=0`` forces one split, ``cv_folds=k`` k folds whatever the size.

The folds are sklearn's ``StratifiedKFold`` (``KFold`` for regression, or when a class has fewer
rows than folds), shuffled with the run's ``seed``, so every trial of a study sees the same
folds and their values can be compared fold by fold. The test split is never touched. The
features' scaling stays the one the dataset computed on its training rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from tracking.data.datasets import Dataset

CV_MAX_ROWS = 5000  # training pools up to this many rows are cross-validated by default
AUTO_FOLDS = 3  # folds of cv_folds=auto: 3 trainings per trial, each validated on a third


class CvScore(NamedTuple):
    """A trial's value over its folds."""

    values: tuple[float, ...]  # the best monitor of each fold, in fold order

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        """The folds' sample standard deviation (0 for one fold)."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def metrics(self, monitor: str) -> dict[str, float]:
        """What the trial's run logs: ``cv_<monitor>_mean``, ``cv_<monitor>_std``, ``cv_folds``."""
        return {
            f"cv_{monitor}_mean": self.mean,
            f"cv_{monitor}_std": self.std,
            "cv_folds": float(len(self.values)),
        }


def pool_rows(dataset: Dataset) -> int:
    """Rows the folds are cut from: the training and validation rows."""
    return len(dataset.y_train) + len(dataset.y_val)


def folds_for(cv_folds: str, dataset: Dataset) -> int:
    """How many folds a trial trains: 0 for one split (``cv_folds=0``, or ``auto`` above
    ``CV_MAX_ROWS`` rows or without validation rows), else ``k``."""
    if cv_folds == "auto":
        small = pool_rows(dataset) <= CV_MAX_ROWS and len(dataset.y_val) > 0
        return AUTO_FOLDS if small else 0
    return int(cv_folds)


def fold_datasets(dataset: Dataset, k: int, seed: int) -> Iterator[Dataset]:
    """``dataset`` ``k`` times, its training pool cut into ``k`` folds: each fold validates once
    while the others train. Test rows, scaling and class names are the dataset's own."""
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    for train, val in _splitter(y, k, seed, dataset.regression).split(x, y):
        yield dataset._replace(x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val])


def _splitter(y: np.ndarray, k: int, seed: int, regression: bool) -> KFold | StratifiedKFold:
    if not regression and np.bincount(y).min(initial=k) >= k:
        return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return KFold(n_splits=k, shuffle=True, random_state=seed)


def finite(values: Sequence[float | None]) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)
