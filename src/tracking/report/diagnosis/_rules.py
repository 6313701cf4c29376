"""The rules that read the curves: the main finding (the label) and the secondary ones.

The first rule that matches gives the label:

1. ``diverged``: a NaN/inf loss or val_loss; ``stop_reason == "diverged"`` (DivergenceGuard
   stops inside an epoch, so the logged ones can all be finite); the training loss clearly rose
   (``_curves.rise``) by more than ``DIVERGE_SHARE`` of its scale (``_curves.scale``) or back
   above epoch 1's value, or it climbs steadily after a lowest still far from zero
   (``training_rose``), i.e. the optimizer is unstable (a rise near a floor close to zero, small
   against the scale, is a wobble, below); or the last val_loss (loss without validation)
   ``BLOW_UP_FACTOR`` x its minimum and above its first value while the training loss did not
   keep falling (if it did, that is overfitting). Train for the best finite epoch.
2. ``underfitting``: even the lowest ``WINDOW``-epoch mean of the training loss is above
   ``UNDERFIT_RATIO`` x epoch 1's, and the same holds for val_loss. A model that learns within
   epoch 1 is safe: Keras averages epoch 1's training loss from the random weights on.
3. ``overfitting``: val_loss clearly rose (``_curves.rise``) after its lowest epoch k and the
   training loss kept falling (its last ``WINDOW``-epoch mean is below its value at epoch k).
   Overfits from epoch k + 1; train for k.
4. ``still_improving``: the monitored value's best is in the last ``IMPROVING_TAIL`` epochs and
   clearly beats all earlier ones, or its ``WINDOW``-epoch mean clearly improved over the last
   ``WINDOW`` epochs. Clearly = by more than ``NOISE_FACTOR`` x the noise and ``MIN_GAIN`` of the
   best value (of 1 - accuracy for accuracy: the error rate). Or the run's last third (at least
   ``TREND_EPOCHS`` epochs) descends steadily (``trend_t`` at most -``TREND_T``) by more than
   ``TREND_GAIN`` of the best value along its fitted line. Train for n + max(patience,
   ``EXTRA_SHARE`` x n).
5. ``converged``: anything else, a noisy plateau included. Train for the monitor's best epoch.

Secondary findings, in the order the description gives them after the label's paragraph:

- the training loss is unstable: after some epoch E (its lowest so far) it went above
  (1 + ``UNSTABLE_RISE``) x its value there; near its floor this is a wobble, not divergence;
- the best epochs by validation loss and by the metric are ``DISAGREEMENT_EPOCHS`` or more apart
  and the metric clearly moved its own way between them (``disagreement``).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np

from tracking.report.diagnosis._curves import (
    MIN_TREND_EPOCHS,
    TREND_EPOCHS,
    TREND_T,
    WINDOW,
    Rise,
    best,
    clear_gain,
    finite_epochs,
    rise,
    scale,
    smooth,
    trend_t,
)

DiagnosisLabel = Literal["still_improving", "converged", "overfitting", "underfitting", "diverged"]

DIVERGE_SHARE = 0.1  # a training-loss rise above this share of its scale is divergence
NEAR_ZERO = 0.1  # a lowest below this share of the scale is near zero (a climb there: wobble)
BLOW_UP_FACTOR = 10.0
UNDERFIT_RATIO = 0.9
IMPROVING_TAIL = 2
MIN_GAIN = 0.01
TREND_GAIN = 0.05  # a steady descent over the run's last third gains at least this share
EXTRA_SHARE = 0.25
UNSTABLE_RISE = 0.5  # above (1 + this) x the lowest so far: the training loss wobbles or jumps
DISAGREEMENT_EPOCHS = 3


class Curves(NamedTuple):
    loss: np.ndarray  # the training loss
    val: np.ndarray | None  # val_loss, None without validation
    watched: np.ndarray  # the monitor's values
    monitor: str  # its key: val_loss, val_accuracy, ... (loss without validation)
    mode: Literal["min", "max"]


class NonFinite(NamedTuple):
    step: int
    key: str  # "loss" or "val_loss"
    value: float


class TrainingRose(NamedTuple):
    rise: Rise
    scale: float
    above_start: bool  # its last WINDOW-epoch mean is above epoch 1's value
    steady: bool  # small, but a steady climb from a lowest far from zero


class BlewUp(NamedTuple):
    key: str  # "val_loss", or "loss" without validation
    last: float
    low: float
    epochs: int


class Verdict(NamedTuple):
    """The main finding: label, epochs to train next time, and the evidence the text cites."""

    label: DiagnosisLabel
    recommended: int
    # diverged: NonFinite | TrainingRose | BlewUp | None (the guard stopped training);
    # underfitting: the training loss's relative drop; overfitting: val_loss's Rise;
    # converged: val_loss's Rise while training stalled, or None; still_improving: None.
    evidence: NonFinite | TrainingRose | BlewUp | Rise | float | None


class Unstable(NamedTuple):
    """The training loss went well above its lowest so far: a wobble near its floor or a jump."""

    step: int  # 0-based step of the lowest value before the jump
    low: float
    high_step: int
    high: float
    scale: float


def verdict(c: Curves, stop_reason: str | None, patience: int) -> Verdict:
    """The first of rules 1-5 (module docstring) that matches."""
    n, b = len(c.loss), _best_epoch(c.watched, c.mode)
    if (why := divergence(c, stop_reason)) is not None or stop_reason == "diverged":
        usable = best(c.watched[: finite_epochs(c.loss, c.val)], c.mode)
        return Verdict("diverged", 0 if usable is None else usable + 1, why)
    if underfitting(c):
        return Verdict("underfitting", b, 1 - float(smooth(c.loss).min() / c.loss[0]))
    val_rise = None if c.val is None else rise(c.val)
    if c.val is not None and val_rise is not None and kept_falling(c.loss, c.val):
        return Verdict("overfitting", val_rise.low_step + 1, val_rise)
    if still_improving(1 - c.watched if c.mode == "max" else c.watched):
        return Verdict("still_improving", n + max(patience, math.ceil(EXTRA_SHARE * n)), None)
    return Verdict("converged", b, val_rise)


def divergence(c: Curves, stop_reason: str | None) -> NonFinite | TrainingRose | BlewUp | None:
    """Why rule 1 matches (None also when only ``stop_reason`` says so), or None."""
    loss, val = c.loss, c.val
    if (step := finite_epochs(loss, val)) < len(loss):
        if val is None or not np.isfinite(loss[step]):
            return NonFinite(step, "loss", float(loss[step]))
        return NonFinite(step, "val_loss", float(val[step]))
    if stop_reason == "diverged":
        return None
    if (rose := training_rose(loss)) is not None:
        return rose
    curve = loss if val is None else val
    low = float(curve.min())
    falling = val is not None and kept_falling(loss, val)
    if curve[-1] >= BLOW_UP_FACTOR * low and curve[-1] > curve[0] and not falling:
        return BlewUp("loss" if val is None else "val_loss", float(curve[-1]), low, len(curve))
    return None


def training_rose(loss: np.ndarray) -> TrainingRose | None:
    """The training loss clearly rose by more than ``DIVERGE_SHARE`` of its scale or back above
    its start, or it climbs steadily after its lowest while that lowest is still far from zero
    (at least ``NEAR_ZERO`` of its scale: near zero, the same climb is a wobble)."""
    k, n, size = int(np.argmin(loss)), len(loss), scale(loss)
    if n < MIN_TREND_EPOCHS or k >= n - WINDOW:
        return None
    means = smooth(loss)
    above_start = bool(means[-1] > loss[0])
    if (rose := rise(loss)) is not None and (rose.smoothed > DIVERGE_SHARE * size or above_start):
        return TrainingRose(rose, size, above_start, steady=False)
    gain = float(means[-1] - means.min())
    if gain > 0 and loss[k] >= NEAR_ZERO * size and trend_t(loss[k:]) >= TREND_T:
        return TrainingRose(Rise(k, float(loss[k]), float(loss[-1]), gain), size, False, True)
    return None


def underfitting(c: Curves) -> bool:
    if len(c.loss) < MIN_TREND_EPOCHS:
        return False
    curves = (x for x in (c.loss, c.val) if x is not None)
    return all(smooth(x).min() > UNDERFIT_RATIO * x[0] for x in curves)


def kept_falling(loss: np.ndarray, val: np.ndarray) -> bool:
    return bool(np.mean(loss[-WINDOW:]) < loss[int(np.argmin(val))])


def still_improving(lower_better: np.ndarray) -> bool:
    """Rule 4 (module docstring) on the monitored values, lower is better."""
    n, tail = len(lower_better), IMPROVING_TAIL
    if n < MIN_TREND_EPOCHS:
        return int(np.argmin(lower_better)) == n - 1
    gain = float(lower_better[:-tail].min() - lower_better[-tail:].min())
    if clear_gain(gain, lower_better, MIN_GAIN):
        return True
    means = smooth(lower_better)
    if len(means) > WINDOW and clear_gain(
        float(means[-1 - WINDOW] - means[-1]), lower_better, MIN_GAIN
    ):
        return True
    # A slow, steady descent whose last few epochs happen to stall: the last third's trend.
    recent = lower_better[-max(TREND_EPOCHS, math.ceil(n / 3)) :]
    if len(recent) < TREND_EPOCHS or trend_t(recent) > -TREND_T:
        return False
    x = np.arange(len(recent))
    fitted_gain = -float(np.polyfit(x, recent, 1)[0]) * (len(recent) - 1)
    return fitted_gain > TREND_GAIN * abs(float(lower_better.min()))


def unstable(loss: np.ndarray) -> Unstable | None:
    """The first epoch whose training loss is above (1 + ``UNSTABLE_RISE``) x the lowest before
    it, and that lowest; None when the finite training loss never did that."""
    loss = loss[: finite_epochs(loss, None)]
    if len(loss) < MIN_TREND_EPOCHS:
        return None
    running = np.minimum.accumulate(loss)
    jumps = np.flatnonzero(loss[1:] > (1 + UNSTABLE_RISE) * running[:-1])
    if not len(jumps) or running[jumps[0]] <= 0:
        return None
    j = int(jumps[0]) + 1
    low_step = int(np.argmin(loss[:j]))
    high_step = j + int(np.argmax(loss[j:]))
    return Unstable(low_step, float(loss[low_step]), high_step, float(loss[high_step]), scale(loss))


def disagreement(lower_better: np.ndarray, by_loss: int | None, by_metric: int | None) -> bool:
    """Validation loss and the metric (``lower_better``: error rate or MAE) are best at epochs
    ``DISAGREEMENT_EPOCHS`` or more apart, and between the two the metric clearly moved its own
    way: improved after the loss bottomed out, or worsened while the loss still improved
    (``trend_t`` at least ``TREND_T``). A metric that only wanders on a plateau says nothing."""
    if by_loss is None or by_metric is None or abs(by_metric - by_loss) < DISAGREEMENT_EPOCHS:
        return False
    first, last = sorted((by_loss, by_metric))
    t = trend_t(lower_better[first : last + 1])
    return t <= -TREND_T if by_metric > by_loss else t >= TREND_T


def _best_epoch(values: np.ndarray, mode: str) -> int:
    step = best(values, mode)
    return 0 if step is None else step + 1
