"""Statistics of one learning curve (one value per epoch, index = step), lower is better.

A curve is compared with itself in two ways: against its noise (is a change real?) and against
its own scale (is a real change large?). Noise = std of the curve minus its centred 3-epoch mean
over the run's second half, x sqrt(1.5) to estimate white noise's per-epoch deviation; a trend or
constant curvature adds nothing to it. Scale = the larger of the first value (Keras averages
epoch 1's training loss from the random weights on) and the highest, so that a training loss
wobbling between 0.005 and 0.014 after starting at 1.03 moves by under 1 % of its scale.

A rise after the lowest epoch is read through the noise three ways (``rise``): a change larger
than the noise, a steady climb (a slope of several standard errors), or a step up to a higher
plateau (the plateau's mean, over all its epochs, several standard errors above the epochs that
end at the lowest one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

WINDOW = 3  # epochs averaged before comparing, so that one noisy epoch decides nothing
MIN_TREND_EPOCHS = 4  # fewer epochs: no trend is read
NOISE_FACTOR = 3.0  # a change is real when above this many times the noise
MIN_RISE = 0.05  # ... and, for a rise, above this share of the lowest value
TREND_T = 2.0  # or a steady climb: the slope after the lowest epoch this many standard errors up
TREND_EPOCHS = 5  # ... over at least this many epochs (the lowest included)


class Rise(NamedTuple):
    """A clear rise of a curve after its lowest epoch (not one of the last ``WINDOW``)."""

    low_step: int  # 0-based step of the lowest value
    low: float
    last: float
    smoothed: float  # last WINDOW-epoch mean minus the lowest WINDOW-epoch mean

    @property
    def relative(self) -> float:
        """Last value against the lowest: 0.75 = 75 % above it."""
        return (self.last - self.low) / self.low if self.low else math.inf


def series(history: Mapping[str, Sequence[float]], key: str) -> np.ndarray | None:
    values = history.get(key)
    return np.asarray(values, dtype=float) if values is not None and len(values) else None


def best(values: np.ndarray, mode: str) -> int | None:
    """0-based step of the best finite value, the first one on ties (as BestWeights keeps)."""
    clean = np.where(np.isfinite(values), values, np.nan)
    if np.isnan(clean).all():
        return None
    return int(np.nanargmax(clean) if mode == "max" else np.nanargmin(clean))


def finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def finite_epochs(loss: np.ndarray, val: np.ndarray | None) -> int:
    """How many epochs came before the first NaN/inf loss or val_loss."""
    bad = ~np.isfinite(loss) | (False if val is None else ~np.isfinite(val))
    return int(np.argmax(bad)) if bad.any() else len(loss)


def smooth(values: np.ndarray) -> np.ndarray:
    """Trailing ``WINDOW``-epoch means (entry j = mean of steps j .. j + WINDOW - 1)."""
    return np.convolve(values, np.ones(WINDOW) / WINDOW, mode="valid")


def noise(values: np.ndarray) -> float:
    """Per-epoch noise of the curve's second half (see the module docstring)."""
    tail = values[len(values) // 2 :]
    if len(tail) < 3:
        return 0.0
    residual = tail[1:-1] - (tail[:-2] + tail[1:-1] + tail[2:]) / 3
    return float(np.std(residual) * math.sqrt(1.5))


def scale(values: np.ndarray) -> float:
    """The curve's own scale: its first value or its highest, whichever is larger."""
    return float(max(abs(values[0]), np.max(np.abs(values))))


def clear_gain(gain: float, values: np.ndarray, share: float) -> bool:
    """``gain`` is above the noise and above ``share`` of the best (lowest) value."""
    return gain > max(NOISE_FACTOR * noise(values), share * abs(float(values.min())))


def rise(values: np.ndarray) -> Rise | None:
    """The rise from the lowest value to the end, when it is clear: the lowest is not in the last
    ``WINDOW`` epochs, the last ``WINDOW``-epoch mean is above the lowest such mean by more than
    ``MIN_RISE`` of it, and either by more than ``NOISE_FACTOR`` x the noise, or as a steady climb
    (``trend_t`` of the epochs from the lowest on at least ``TREND_T``), or as a step up to a
    higher level (``step_z`` at least ``NOISE_FACTOR``). A noisy plateau is none of these: its
    level after the lowest epoch is the level it had before."""
    k, n = int(np.argmin(values)), len(values)
    if n < MIN_TREND_EPOCHS or k >= n - WINDOW:
        return None
    means = smooth(values)
    gain = float(means[-1] - means.min())
    if gain <= MIN_RISE * means.min():
        return None
    if (
        gain <= NOISE_FACTOR * noise(values)
        and trend_t(values[k:]) < TREND_T
        and step_z(values, k) < NOISE_FACTOR
    ):
        return None
    return Rise(k, float(values[k]), float(values[-1]), gain)


def step_z(values: np.ndarray, k: int) -> float:
    """How far the mean of the epochs after step ``k`` is above the mean of the ``WINDOW`` epochs
    ending at ``k``, in standard errors of that difference (per-epoch noise x sqrt(1/m + 1/w) for
    m epochs after and w before): a step up to a plateau, read through the noise by averaging the
    whole plateau. 0 without an epoch after ``k``; inf for a noiseless step."""
    after, before = values[k + 1 :], values[max(0, k - WINDOW + 1) : k + 1]
    if not len(after):
        return 0.0
    shift = float(after.mean() - before.mean())
    error = noise(values) * math.sqrt(1 / len(after) + 1 / len(before))
    return shift / error if error > 0 else math.copysign(math.inf, shift) if shift else 0.0


def trend_t(values: np.ndarray) -> float:
    """Least-squares slope of the values against the epoch, in standard errors (t statistic);
    0 for fewer than ``TREND_EPOCHS`` values, inf for an exact straight climb."""
    if len(values) < TREND_EPOCHS:
        return 0.0
    x = np.arange(len(values)) - (len(values) - 1) / 2
    slope = float(x @ (values - values.mean()) / (x @ x))
    residual = values - values.mean() - slope * x
    spread = math.sqrt(float(residual @ residual) / (len(values) - 2) / float(x @ x))
    return slope / spread if spread > 0 else math.copysign(math.inf, slope) if slope else 0.0
