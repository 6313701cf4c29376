from __future__ import annotations

import numpy as np
import pytest

from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.crossval import AUTO_FOLDS, CvScore, fold_datasets, folds_for, pool_rows
from tracking.sweep.objective import Objective

DIGITS = load_dataset(TrainConfig(dataset="digits"))


def _mnist_sized() -> object:
    """Digits' rows repeated to MNIST's 60 000 training rows (54 000 + 6 000 validation)."""
    train, val = np.arange(54_000) % len(DIGITS.y_train), np.arange(6_000) % len(DIGITS.y_val)
    return DIGITS._replace(x_train=DIGITS.x_train[train], y_train=DIGITS.y_train[train],
                           x_val=DIGITS.x_val[val], y_val=DIGITS.y_val[val])  # fmt: skip


def test_small_data_is_cross_validated_by_default_and_large_data_keeps_one_split() -> None:
    # sklearn's digits: 1 437 training rows, AUTO_FOLDS folds unless told otherwise.
    assert pool_rows(DIGITS) == 1437
    assert folds_for("auto", DIGITS) == AUTO_FOLDS == 3
    assert folds_for("0", DIGITS) == 0  # forced: one split
    assert folds_for("5", DIGITS) == 5
    # MNIST's size: one split by default, folds only when asked for.
    big = _mnist_sized()
    assert folds_for("auto", big) == 0  # type: ignore[arg-type]
    assert folds_for("3", big) == 3  # type: ignore[arg-type]
    # The trial objective follows the same rule.
    objective = Objective(TrainConfig(dataset="digits"), SweepConfig(), big,  # type: ignore[arg-type]
                          tracker=Tracker(), parent_run_id="p")  # fmt: skip
    assert objective.folds == 0
    assert Objective(TrainConfig(dataset="digits"), SweepConfig(), DIGITS,
                     tracker=Tracker(), parent_run_id="p").folds == 3  # fmt: skip


def test_cv_folds_is_refused_outside_its_choices() -> None:
    from tracking.config.errors import ConfigError
    from tracking.sweep.validation import validate_sweep

    with pytest.raises(ConfigError, match="cv_folds"):
        validate_sweep(SweepConfig(cv_folds="1"))


def test_folds_partition_the_training_pool_stratified_and_leave_the_test_split_alone() -> None:
    folds = list(fold_datasets(DIGITS, 3, seed=0))
    assert len(folds) == 3
    validated = np.concatenate([f.x_val for f in folds])
    pool = np.concatenate([DIGITS.x_train, DIGITS.x_val])
    # Every pool row validates exactly once (rows compared as bytes: same multiset).
    assert sorted(map(bytes, validated)) == sorted(map(bytes, pool))
    for fold in folds:
        assert len(fold.y_train) + len(fold.y_val) == 1437
        assert np.array_equal(fold.x_test, DIGITS.x_test)
        assert np.array_equal(fold.offset, DIGITS.offset)
        # Stratified: each class's share of the validation rows is within a row of the pool's.
        counts, expected = np.bincount(fold.y_val, minlength=10), np.bincount(
            np.concatenate([DIGITS.y_train, DIGITS.y_val]), minlength=10) / 3  # fmt: skip
        assert np.all(np.abs(counts - expected) <= 1)
    # The same seed, the same folds: every trial of a study is validated on the same rows.
    again = list(fold_datasets(DIGITS, 3, seed=0))
    assert all(np.array_equal(a.y_val, b.y_val) for a, b in zip(folds, again, strict=True))


def test_cv_score_metrics() -> None:
    score = CvScore((0.1, 0.2, 0.3))
    assert score.metrics("val_loss") == pytest.approx(
        {"cv_val_loss_mean": 0.2, "cv_val_loss_std": 0.1, "cv_folds": 3.0}
    )
    assert CvScore((0.5,)).std == 0.0
