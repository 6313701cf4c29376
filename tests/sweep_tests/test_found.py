from __future__ import annotations

import numpy as np
import pytest

from tracking.sweep.found import Found, Gain, Side, changes, found_text
from tracking.sweep.significance import Scored, paired_gain

BASE = Side("trial 0", 0, {"epochs": 20, "batch_size": 128, "learning_rate": 0.001}, 0.0938,
            0.0121, 3)  # fmt: skip
CHAMPION = Side("refit of trial 7", 7, {"epochs": 24, "batch_size": 64, "learning_rate": 0.00312},
                0.0712, 0.0081, 3)  # fmt: skip
GAIN = Gain("test_accuracy", 0.9861, 0.9722, 0.0139, 0.0017, 0.0260, 360)


def test_the_summary_names_the_champion_against_the_base_and_the_gain_with_its_interval() -> None:
    assert found_text(Found("val_loss", CHAMPION, BASE, GAIN)) == (
        "Champion: refit of trial 7 (val_loss 0.0712 +- 0.0081 over 3 folds).\n"
        "Base configuration (trial 0): val_loss 0.0938 +- 0.0121 over 3 folds.\n"
        "Changed from the base: epochs 20 -> 24, batch_size 128 -> 64, "
        "learning_rate 0.001 -> 0.00312.\n"
        "Test accuracy 0.9861 against 0.9722 for the base: gain +0.0139 "
        "(95 % CI +0.0017 to +0.0260, paired over 360 test rows).\n"
        "(Trial 0's model was fit on 2 of its 3 folds, the refit on every training row.)"
    )


def test_the_summary_says_when_the_base_won_or_is_missing() -> None:
    one_split = BASE._replace(spread=None, folds=0)
    assert found_text(Found("val_loss", one_split, one_split)) == (
        "Champion: trial 0 (val_loss 0.0938).\n"
        "It is the base configuration (trial 0): no searched trial beat its val_loss."
    )
    assert found_text(Found("val_loss", CHAMPION, None)) == (
        "Champion: refit of trial 7 (val_loss 0.0712 +- 0.0081 over 3 folds).\n"
        "No base configuration to compare with: trial 0 did not complete, or every "
        "dimension was fixed."
    )
    assert found_text(Found("val_loss", None, None)) == (
        "The sweep found no model: no trial completed."
    )


def test_changes_lists_what_differs_and_what_only_one_side_has() -> None:
    assert changes({"a": 1, "b": 0.5}, {"a": 1, "b": 0.25, "c": "x"}) == "b 0.5 -> 0.25, c - -> x"
    assert changes({"a": 1, "d": 2}, {"a": 1}) == "d 2 -> -"  # e.g. a conditional parameter
    assert changes({"a": 1}, {"a": 1}) == "none"


def test_paired_gain_is_positive_when_better_for_either_direction() -> None:
    right = np.array([True] * 90 + [False] * 10)
    wrong = np.array([True] * 80 + [False] * 20)
    gain, (low, high) = paired_gain(Scored(0.9, right), Scored(0.8, wrong), True)
    assert gain == pytest.approx(0.1)
    assert low < 0.1 < high and low > 0  # 10 rows better, none worse: beyond zero
    errors = np.array([1.0, 2.0, 3.0, 4.0])
    gain, (low, high) = paired_gain(Scored(2.0, errors - 0.5), Scored(2.5, errors), False)
    assert gain == pytest.approx(0.5) and low == pytest.approx(0.5) == high  # less error
