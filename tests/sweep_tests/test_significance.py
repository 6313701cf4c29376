"""The statistics of promotion against published numbers, and the rule built on them."""

from __future__ import annotations

import numpy as np
import pytest

from tracking.sweep.promotion import decide
from tracking.sweep.significance import (
    Scored,
    compare,
    interval,
    mcnemar_exact,
    mean_interval,
    wilson_interval,
)


def test_wilson_interval_matches_newcombe_1998() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, Table I: 81 of 263 -> 0.2553 to 0.3662;
    # 15 of 148 -> 0.0624 to 0.1605; 0 of 20 -> 0 to 0.1611; 1 of 29 -> 0.0061 to 0.1718.
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(1, 29) == pytest.approx((0.0061, 0.1718), abs=1e-4)


def test_mcnemar_exact_is_the_two_sided_binomial_of_the_discordant_rows() -> None:
    # By hand: 0 vs 6 -> 2 * 0.5**6; 2 vs 10 -> 2 * (1 + 12 + 66) / 2**12.
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)
    assert mcnemar_exact(2, 10) == pytest.approx(158 / 4096)
    assert mcnemar_exact(10, 2) == pytest.approx(158 / 4096)  # symmetric
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0  # identical answers: no evidence either way


# Student's sleep data (Cushny and Peebles 1905; R's `sleep`): the paired t-test gives
# t = -4.0621, df = 9, p-value = 0.002833 (R: t.test(extra ~ group, data = sleep, paired = TRUE)).
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_paired_t_on_per_row_errors_matches_the_sleep_data() -> None:
    a = Scored(float(np.mean(SLEEP_1)), np.array(SLEEP_1))
    b = Scored(float(np.mean(SLEEP_2)), np.array(SLEEP_2))
    comparison = compare(a, b)
    assert comparison.test == "paired t"
    assert comparison.p_value == pytest.approx(0.002833, abs=2e-6)
    # R: the mean of group 2 is 2.33 with 95 % t interval 0.8976 to 3.7624 (t.test(sleep$extra
    # [11:20])); the t quantile for 9 degrees of freedom is the textbook 2.262157.
    assert mean_interval(np.array(SLEEP_2)) == pytest.approx((0.8976, 3.7624), abs=1e-4)


def _rows(n: int, right: int, offset: int = 0) -> np.ndarray:
    rows = np.zeros(n, dtype=bool)
    rows[offset : offset + right] = True
    return rows


def test_a_challenger_within_noise_keeps_the_champion_and_the_reason_gives_both_intervals() -> None:
    n = 10_000
    champion = _rows(n, 9808)
    challenger = _rows(n, 9811, offset=3)  # 3 rows only the challenger got right... and 0 only
    challenger[:3] = False  # the champion: shift so that they disagree on a handful of rows
    challenger[9808:9814] = True
    a = Scored(float(challenger.mean()), challenger)
    b = Scored(float(champion.mean()), champion)
    assert a.value > b.value  # better, but by a few rows of 10 000
    promoted, reason, p = decide(a, b, "test_accuracy")
    assert not promoted and p is not None and p > 0.05
    assert reason.startswith("within noise (p >= 0.05): a tie keeps @champion")
    low_a, high_a = interval(a)
    low_b, high_b = interval(b)
    assert f"challenger test accuracy {a.value:.4f} (95 % CI {low_a:.4f}-{high_a:.4f})" in reason
    assert f"vs @champion {b.value:.4f} (95 % CI {low_b:.4f}-{high_b:.4f})" in reason
    assert "McNemar exact p=" in reason


def test_a_challenger_better_beyond_noise_is_promoted_and_a_worse_one_is_not() -> None:
    n = 10_000
    champion = Scored(0.9808, _rows(n, 9808))
    challenger = Scored(0.9850, _rows(n, 9850))  # 42 rows only the challenger got right
    promoted, reason, p = decide(challenger, champion, "test_accuracy")
    assert promoted and p is not None and p < 1e-9
    assert reason.startswith("better beyond noise (p < 0.05)")
    kept, reason, _ = decide(champion, challenger, "test_accuracy")
    assert not kept and reason.startswith("worse beyond noise")
    first, reason, p = decide(champion, None, "test_accuracy")
    assert first and p is None and reason.startswith("no champion yet") and "95 % CI" in reason


def test_regression_compares_per_row_absolute_errors_lower_is_better() -> None:
    rng = np.random.default_rng(0)
    errors = np.abs(rng.normal(0, 1, 400))
    smaller = Scored(float((errors * 0.8).mean()), errors * 0.8)
    same = Scored(float((errors + 0.001).mean()), errors + 0.001 * rng.standard_normal(400))
    base = Scored(float(errors.mean()), errors)
    assert decide(smaller, base, "test_mae")[0]
    assert not decide(base, smaller, "test_mae")[0]
    promoted, reason, _ = decide(same, base, "test_mae")
    assert not promoted and reason.startswith("within noise") and "paired t p=" in reason
