"""``diagnose``: the history in, a ``Diagnosis`` out (label, epochs to train, gaps, description)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np

from tracking.report.diagnosis import _rules, _words
from tracking.report.diagnosis._curves import best, finite, series
from tracking.report.diagnosis._rules import Curves, DiagnosisLabel

METRICS = ("accuracy", "mae")  # the second metric: classification, else regression
MODES: dict[str, Literal["min", "max"]] = {
    "loss": "min",
    "accuracy": "max",
    "mae": "min",
    "mse": "min",
}
TRAINING_LOSS_WOBBLES = "training_loss_wobbles"  # or jumps: secondary finding names
BEST_EPOCHS_DISAGREE = "best_epochs_disagree"


class Diagnosis(NamedTuple):
    label: DiagnosisLabel  # the main finding
    recommended_epochs: int  # epochs to train next time; 0 when no epoch had a finite value
    overfitting_from_epoch: int | None  # 1-based, only for "overfitting"
    best_epoch_by_loss: int | None  # 1-based, lowest val_loss (loss without validation)
    best_epoch_by_metric: int | None  # 1-based, best val_accuracy (max) or val_mae (min)
    generalization_gap_loss: float | None  # val_loss - loss at the monitor's best epoch
    generalization_gap_metric: float | None  # accuracy - val_accuracy or val_mae - mae, there
    metric: str | None  # "accuracy" or "mae"
    summary: str  # Markdown for the MLflow run description: the label's paragraph first
    secondary: tuple[str, ...] = ()  # the secondary findings, in the summary's order


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
    loss, val = series(history, "loss"), series(history, "val_loss")
    if loss is None:
        raise ValueError(f"history has no 'loss' values (keys: {sorted(history)})")
    if monitor not in history:  # no validation split, or a metric the model did not compute
        monitor = (
            monitor.removeprefix("val_") if monitor.removeprefix("val_") in history else "loss"
        )
    mode = monitor_mode(monitor)
    curves = Curves(loss, val, np.asarray(history[monitor], dtype=float), monitor, mode)
    found = _rules.verdict(curves, stop_reason, patience)
    paragraphs, secondary = [_words.main_paragraph(found, curves)], []
    if found.label != "diverged" and (jump := _rules.unstable(loss)) is not None:
        paragraphs.append(_words.unstable_paragraph(jump, float(loss[0])))
        secondary.append(TRAINING_LOSS_WOBBLES)

    best_step, by_loss = best(curves.watched, mode), best(loss if val is None else val, "min")
    metric = next((m for m in METRICS if m in history), None)
    has_val_metric = val is not None and f"val_{metric}" in history
    by_metric = gap_loss = gap_metric = None
    if val is not None and best_step is not None:
        gap_loss = finite(val[best_step] - loss[best_step])
        if metric is not None and has_val_metric:
            gap = history[metric][best_step] - history[f"val_{metric}"][best_step]
            gap_metric = finite(gap if MODES[metric] == "max" else -gap)
    if metric is not None:
        key = f"val_{metric}" if has_val_metric else metric
        values = np.asarray(history[key], dtype=float)
        error = 1 - values if MODES[metric] == "max" else values  # lower is better
        by_metric = best(error, "min")
        if by_loss is not None and by_metric is not None:
            if _rules.disagreement(error, by_loss, by_metric):
                paragraphs.append(_words.disagreement_paragraph(history, key, by_loss, by_metric))
                secondary.append(BEST_EPOCHS_DISAGREE)
    return Diagnosis(
        found.label,
        found.recommended,
        found.recommended + 1 if found.label == "overfitting" else None,
        None if by_loss is None else by_loss + 1,
        None if by_metric is None else by_metric + 1,
        gap_loss,
        gap_metric,
        metric,
        "\n\n".join(paragraphs),
        tuple(secondary),
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
