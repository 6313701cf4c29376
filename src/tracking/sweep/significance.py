"""How sure a promotion is: confidence intervals and paired tests on the same test rows.

A model is scored row by row on the test split (``Scored``): for a classifier whether each row's
label was right, for a regression model each row's absolute error. Two models scored on the same
rows are compared with a paired test:

- classification: the Wilson score interval (95 %) of each test accuracy, and McNemar's exact
  test on the rows exactly one of the two got right (a two-sided binomial test, ``scipy``);
- regression: a t interval (95 %) of each mean absolute error, and the paired t-test on the
  per-row absolute errors (``scipy.stats.ttest_rel``).

``better_beyond_noise`` is the rule promotion uses: the challenger must be better by the metric
*and* the paired test's p-value below ``ALPHA``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats

ALPHA = 0.05  # a challenger moves @champion only when the paired test's p-value is below this
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


class Scored(NamedTuple):
    """A model's promotion metric on the test split and what it is made of, row by row."""

    value: float  # test_accuracy, or test_mae for regression
    rows: np.ndarray  # bool per row (right label), or float per row (absolute error)


class Comparison(NamedTuple):
    test: str  # "McNemar exact" | "paired t"
    p_value: float
    detail: str  # e.g. "38 vs 25 rows only one of the two got right"


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95 % by default)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The t interval of the mean of ``values`` (e.g. per-row absolute errors)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return (mean, mean)
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return (mean - half, mean + half)


def interval(scored: Scored) -> tuple[float, float]:
    """The 95 % interval of ``scored.value``: Wilson for accuracy, t for a mean error."""
    if scored.rows.dtype == np.bool_:
        return wilson_interval(int(scored.rows.sum()), len(scored.rows))
    return mean_interval(scored.rows)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """McNemar's exact test: the two-sided binomial p-value of the discordant counts (rows only
    the first model got right, rows only the second got right) under a fair coin."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    return float(stats.binomtest(only_first, n, 0.5).pvalue)


def compare(challenger: Scored, champion: Scored) -> Comparison:
    """The paired test of two models scored on the same test rows."""
    if len(challenger.rows) != len(champion.rows):
        raise ValueError(
            f"the two models were scored on {len(challenger.rows)} and {len(champion.rows)} rows"
        )
    if challenger.rows.dtype == np.bool_:
        only_challenger = int(np.sum(challenger.rows & ~champion.rows))
        only_champion = int(np.sum(~challenger.rows & champion.rows))
        return Comparison(
            "McNemar exact",
            mcnemar_exact(only_challenger, only_champion),
            f"{only_challenger} rows only the challenger got right, {only_champion} only "
            f"the champion, of {len(challenger.rows)}",
        )
    a = np.asarray(challenger.rows, dtype=np.float64)
    b = np.asarray(champion.rows, dtype=np.float64)
    if np.allclose(a, b):
        return Comparison("paired t", 1.0, f"identical errors on {len(a)} rows")
    p = float(stats.ttest_rel(a, b).pvalue)
    return Comparison("paired t", p, f"per-row absolute errors of {len(a)} rows")


def better_beyond_noise(
    challenger: Scored, champion: Scored, higher_is_better: bool
) -> tuple[bool, Comparison]:
    """True when the challenger is better by its value and the paired test says p < ALPHA."""
    comparison = compare(challenger, champion)
    better = (
        challenger.value > champion.value if higher_is_better else challenger.value < champion.value
    )
    return better and comparison.p_value < ALPHA, comparison


def paired_gain(
    challenger: Scored, base: Scored, higher_is_better: bool
) -> tuple[float, tuple[float, float]]:
    """How much better the challenger is than ``base`` on the same rows (positive = better: more
    accuracy, or less error), and the 95 % t interval of that gain from the per-row
    differences (a row is 1 or 0 for a right or wrong label, or its absolute error)."""
    if len(challenger.rows) != len(base.rows):
        raise ValueError(f"the two models were scored on {len(challenger.rows)} and "
                         f"{len(base.rows)} rows")  # fmt: skip
    sign = 1.0 if higher_is_better else -1.0
    a = np.asarray(challenger.rows, dtype=np.float64)
    b = np.asarray(base.rows, dtype=np.float64)
    gain = sign * (challenger.value - base.value)
    return gain, mean_interval(sign * (a - b))
