"""Read a Keras history the way the Keras tutorials read learning curves by eye.

A pure function of the history dict (one value per epoch, index = step; text says epoch step + 1),
standard library and numpy only so it runs anywhere. ``MODES`` gives each metric's direction, as
``tracking.config.METRIC_MODES`` does for monitors, plus the regression metrics. Rules, in order:

1. ``diverged``: a NaN/inf loss or val_loss; ``stop_reason == "diverged"`` (DivergenceGuard stops
   inside an epoch, so the logged ones can all be finite); the training loss *rose* clearly (rule
   3's test applied to it: the optimizer is unstable); or the last val_loss (loss without
   validation) ``BLOW_UP_FACTOR`` x its minimum and above its first value while the training loss
   did not keep falling (if it did, that is overfitting). Train for the best finite epoch.
2. ``underfitting``: even the lowest ``WINDOW``-epoch mean of the training loss is above
   ``UNDERFIT_RATIO`` x epoch 1's, and the same holds for val_loss. A model that learns within
   epoch 1 is safe: Keras averages epoch 1's training loss from the random weights on.
3. ``overfitting``: val_loss rose clearly and the training loss kept falling (its last
   ``WINDOW``-epoch mean is below its value where val_loss was lowest, epoch k). Rose clearly =
   the lowest value is not in the last ``WINDOW`` epochs, and the last ``WINDOW``-epoch mean is
   above the lowest such mean by more than ``MIN_RISE`` of it and ``NOISE_FACTOR`` x the noise (so
   a noisy plateau does not count). Overfits from epoch k + 1; train for k.
4. ``still_improving``: the monitored value's best is in the last ``IMPROVING_TAIL`` epochs and
   clearly beats all earlier ones, or its ``WINDOW``-epoch mean clearly improved over the last
   ``WINDOW`` epochs. Clearly = by more than ``NOISE_FACTOR`` x the noise and ``MIN_GAIN`` of the
   best value (of 1 - accuracy for accuracy: the error rate). Train for n + max(patience,
   ``EXTRA_SHARE`` x n).
5. ``converged``: anything else, a noisy plateau included. Train for the monitor's best epoch.

Noise = std of the curve minus its centred 3-epoch mean over the run's second half, x sqrt(1.5) to
estimate white noise's per-epoch deviation; a trend or constant curvature adds nothing to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np

DiagnosisLabel = Literal["still_improving", "converged", "overfitting", "underfitting", "diverged"]

WINDOW = 3  # epochs averaged before comparing, so that one noisy epoch decides nothing
MIN_TREND_EPOCHS = 4  # fewer epochs: only "diverged", "still_improving" (best last) or "converged"
NOISE_FACTOR = 3.0
MIN_RISE = 0.05
BLOW_UP_FACTOR = 10.0
UNDERFIT_RATIO = 0.9
IMPROVING_TAIL = 2
MIN_GAIN = 0.01
EXTRA_SHARE = 0.25
DISAGREEMENT_EPOCHS = 3  # best epochs by loss and by metric at least this far apart are reported
METRICS = ("accuracy", "mae")  # the second metric: classification, else regression
MODES: dict[str, Literal["min", "max"]] = {
    "loss": "min",
    "accuracy": "max",
    "mae": "min",
    "mse": "min",
}


class Diagnosis(NamedTuple):
    label: DiagnosisLabel
    recommended_epochs: int  # epochs to train next time; 0 when no epoch had a finite value
    overfitting_from_epoch: int | None  # 1-based, only for "overfitting"
    best_epoch_by_loss: int | None  # 1-based, lowest val_loss (loss without validation)
    best_epoch_by_metric: int | None  # 1-based, best val_accuracy (max) or val_mae (min)
    generalization_gap_loss: float | None  # val_loss - loss at the monitor's best epoch
    generalization_gap_metric: float | None  # accuracy - val_accuracy or val_mae - mae, there
    metric: str | None  # "accuracy" or "mae"
    summary: str  # Markdown for the MLflow run description


def diagnose(
    history: Mapping[str, Sequence[float]],
    *,
    monitor: str = "val_loss",
    stop_reason: str | None = None,
    patience: int = 5,
) -> Diagnosis:
    """Label the learning curves and say how many epochs to train next time.

    Without validation keys a ``val_*`` monitor falls back to its training key (a monitor
    missing altogether, to ``loss``); there is then no gap and never "overfitting". ValueError
    when the history has no ``loss`` value.
    """
    loss, val = _series(history, "loss"), _series(history, "val_loss")
    if loss is None:
        raise ValueError(f"history has no 'loss' values (keys: {sorted(history)})")
    if monitor not in history:  # no validation split, or a metric the model did not compute
        monitor = (
            monitor.removeprefix("val_") if monitor.removeprefix("val_") in history else "loss"
        )
    watched, mode = np.asarray(history[monitor], dtype=float), monitor_mode(monitor)
    best, by_loss = _best(watched, mode), _best(loss if val is None else val, "min")
    metric = next((m for m in METRICS if m in history), None)
    has_val_metric = val is not None and f"val_{metric}" in history
    metric_key = f"val_{metric}" if has_val_metric else metric
    by_metric = gap_loss = gap_metric = None
    if metric is not None and metric_key is not None:
        by_metric = _best(np.asarray(history[metric_key], dtype=float), MODES[metric])
    if val is not None and best is not None:
        gap_loss = _finite(val[best] - loss[best])
        if metric is not None and has_val_metric:
            gap = history[metric][best] - history[f"val_{metric}"][best]
            gap_metric = _finite(gap if MODES[metric] == "max" else -gap)
    label, recommended, text = _verdict(loss, val, watched, monitor, stop_reason, patience)
    paragraphs = [text]
    if metric_key is not None and by_loss is not None and by_metric is not None:
        if abs(by_metric - by_loss) >= DISAGREEMENT_EPOCHS:
            paragraphs.append(_disagreement(history, metric_key, by_loss, by_metric))
    return Diagnosis(
        label,
        recommended,
        recommended + 1 if label == "overfitting" else None,
        None if by_loss is None else by_loss + 1,
        None if by_metric is None else by_metric + 1,
        gap_loss,
        gap_metric,
        metric,
        "\n\n".join(paragraphs),
    )


def diagnosis_metrics(d: Diagnosis) -> dict[str, float]:
    """MLflow metrics of a diagnosis: only the values that exist and are finite."""
    values = {
        "recommended_epochs": d.recommended_epochs or None,
        "overfitting_from_epoch": d.overfitting_from_epoch,
        "generalization_gap_loss": d.generalization_gap_loss,
        f"generalization_gap_{d.metric}": d.generalization_gap_metric,
    }
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def monitor_mode(key: str) -> Literal["min", "max"]:
    """``min`` for losses and errors, ``max`` for accuracy; ValueError for an unknown metric."""
    if (metric := key.removeprefix("val_")) not in MODES:
        raise ValueError(f"no known direction for {key!r} (known: {', '.join(MODES)})")
    return MODES[metric]


def _verdict(
    loss: np.ndarray,
    val: np.ndarray | None,
    watched: np.ndarray,
    monitor: str,
    stop_reason: str | None,
    patience: int,
) -> tuple[DiagnosisLabel, int, str]:
    """Label, epochs to train next time and the paragraph saying why (rules 1-5 above)."""
    mode, n = monitor_mode(monitor), len(loss)
    best = _best(watched, mode)
    b = 0 if best is None else best + 1
    at_best = f"best {watched[best]:.4g} at epoch {b} of {n}" if best is not None else ""
    if (why := _divergence(loss, val, stop_reason)) is not None:
        usable = _best(watched[: _finite_epochs(loss, val)], mode)
        e = 0 if usable is None else usable + 1
        last = f"the best usable epoch is {e}" if e else "no epoch is usable"
        return "diverged", e, f"Training diverged: {why}; {last}. Lower the learning rate."
    if _underfitting(loss, val):
        drop = 1 - _smooth(loss).min() / loss[0]
        text = (
            f"Training loss went down only {drop:.0%} from epoch 1 ({loss[0]:.4g}) in {n} epochs"
            f"{'' if val is None else ', and validation loss as little'}: the model is "
            "underfitting (too small, learning rate too low or too much regularization). More "
            "epochs will not help much; change the model or the optimizer."
        )
        return "underfitting", b, text
    if val is not None and (rise := _rise(val)) is not None and _kept_falling(loss, val):
        k = int(np.argmin(val)) + 1
        text = (
            f"Validation loss was lowest at epoch {k} ({val[k - 1]:.4g}); from epoch {k + 1} "
            f"the model overfits: validation loss rose {rise:.0%} while training loss kept "
            f"falling. Train for {_epochs(k)}."
        )
        return "overfitting", k, text
    name = _words(monitor).capitalize()
    if _still_improving(1 - watched if mode == "max" else watched):
        more = n + max(patience, math.ceil(EXTRA_SHARE * n))
        text = f"{name} was still improving at the end ({at_best}): train longer, e.g. "
        return "still_improving", more, f"{text}{_epochs(more)}."
    after = "with no clear improvement or rise after it"
    if val is not None and (rise := _rise(val)) is not None:  # rule 3 without falling training
        after = f"although validation loss rose {rise:.0%} from its lowest, training loss stalled"
    return "converged", b, f"{name} levelled off: {at_best}, {after}. Train for {_epochs(b)}."


def _series(history: Mapping[str, Sequence[float]], key: str) -> np.ndarray | None:
    values = history.get(key)
    return np.asarray(values, dtype=float) if values is not None and len(values) else None


def _best(values: np.ndarray, mode: str) -> int | None:
    """0-based step of the best finite value, the first one on ties (as BestWeights keeps)."""
    clean = np.where(np.isfinite(values), values, np.nan)
    if np.isnan(clean).all():
        return None
    return int(np.nanargmax(clean) if mode == "max" else np.nanargmin(clean))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _words(key: str) -> str:
    base = key.removeprefix("val_")
    name = base.upper() if base in ("mae", "mse") else base
    return f"{'validation' if key.startswith('val_') else 'training'} {name}"


def _smooth(values: np.ndarray) -> np.ndarray:
    """Trailing ``WINDOW``-epoch means (entry j = mean of steps j .. j + WINDOW - 1)."""
    return np.convolve(values, np.ones(WINDOW) / WINDOW, mode="valid")


def _clear(gain: float, values: np.ndarray) -> bool:
    """Above the noise and above a share of the best value (values: lower is better)."""
    noise = _noise(values[len(values) // 2 :])
    return gain > max(NOISE_FACTOR * noise, MIN_GAIN * abs(float(values.min())))


def _noise(tail: np.ndarray) -> float:
    if len(tail) < 3:
        return 0.0
    residual = tail[1:-1] - (tail[:-2] + tail[1:-1] + tail[2:]) / 3
    return float(np.std(residual) * math.sqrt(1.5))


def _finite_epochs(loss: np.ndarray, val: np.ndarray | None) -> int:
    """How many epochs came before the first NaN/inf loss or val_loss."""
    bad = ~np.isfinite(loss) | (False if val is None else ~np.isfinite(val))
    return int(np.argmax(bad)) if bad.any() else len(loss)


def _divergence(loss: np.ndarray, val: np.ndarray | None, stop_reason: str | None) -> str | None:
    if (step := _finite_epochs(loss, val)) < len(loss):
        bad_loss = val is None or not np.isfinite(loss[step])
        value = loss[step] if bad_loss or val is None else val[step]
        return f"{'loss' if bad_loss else 'val_loss'} became {value} at epoch {step + 1}"
    if stop_reason == "diverged":
        return "a training batch had a NaN/inf loss and training stopped"
    if (rise := _rise(loss)) is not None:
        return f"training loss rose {rise:.0%} after its lowest at epoch {np.argmin(loss) + 1}"
    curve, low = (loss, loss.min()) if val is None else (val, val.min())
    falling = val is not None and _kept_falling(loss, val)
    if curve[-1] >= BLOW_UP_FACTOR * low and curve[-1] > curve[0] and not falling:
        times = f"{curve[-1] / low:.0f}x" if low > 0 else "far above"
        name = _words("loss" if val is None else "val_loss")
        where = f"at epoch {len(curve)}, {times} its minimum {low:.4g}"
        return f"{name} blew up to {curve[-1]:.4g} {where}"
    return None


def _underfitting(loss: np.ndarray, val: np.ndarray | None) -> bool:
    if len(loss) < MIN_TREND_EPOCHS:
        return False
    return all(_smooth(c).min() > UNDERFIT_RATIO * c[0] for c in (loss, val) if c is not None)


def _rise(values: np.ndarray) -> float | None:
    """Relative rise from the lowest value to the last one, when it is clear (rule 3)."""
    k, n = int(np.argmin(values)), len(values)
    if n < MIN_TREND_EPOCHS or k >= n - WINDOW:
        return None
    smooth = _smooth(values)
    rise = smooth[-1] - smooth.min()
    if rise <= MIN_RISE * smooth.min() or rise <= NOISE_FACTOR * _noise(values[n // 2 :]):
        return None
    return float((values[-1] - values[k]) / values[k])


def _kept_falling(loss: np.ndarray, val: np.ndarray) -> bool:
    return bool(np.mean(loss[-WINDOW:]) < loss[int(np.argmin(val))])


def _still_improving(lower_better: np.ndarray) -> bool:
    n, tail = len(lower_better), IMPROVING_TAIL
    if n < MIN_TREND_EPOCHS:
        return int(np.argmin(lower_better)) == n - 1
    if _clear(float(lower_better[:-tail].min() - lower_better[-tail:].min()), lower_better):
        return True
    smooth = _smooth(lower_better)
    return len(smooth) > WINDOW and _clear(float(smooth[-1 - WINDOW] - smooth[-1]), lower_better)


def _disagreement(
    history: Mapping[str, Sequence[float]], key: str, by_loss: int, by_metric: int
) -> str:
    loss_key = "val_loss" if key.startswith("val_") else "loss"
    name, value = _words(key).capitalize(), history[key][by_metric]
    lowest = f"{_words(loss_key)} was lowest at epoch {by_loss + 1}"
    if by_metric < by_loss:
        return f"{name} was best at epoch {by_metric + 1} ({value:.4g}), before {lowest}."
    why = (
        "the model grows more confident on examples it already gets wrong"
        if key.endswith("accuracy")
        else "the loss weighs large errors differently"
    )
    return (
        f"{name} kept improving until epoch {by_metric + 1} ({value:.4g}) although {lowest}: {why}."
    )
