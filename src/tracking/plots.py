"""Learning curves and the confusion matrix: a pure "info" builder, then a renderer.

The info objects are plain data, tested by equality; the renderers only draw them. Human-facing
text says "epoch N" with N = step + 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")  # headless: figures go to MLflow, never to a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


class CurveInfo(NamedTuple):
    metric: str  # "loss" or "accuracy"
    epochs: list[int]  # 1-based
    train: list[float]
    val: list[float] | None
    best_epoch: int | None  # 1-based epoch of the best weights
    best_label: str  # e.g. "best val_loss 0.0712 at epoch 7"
    stop_reason: str


def learning_curve_info(
    history: Mapping[str, Sequence[float]],
    metric: str,
    *,
    monitor: str,
    best_step: int | None,
    stop_reason: str,
) -> CurveInfo:
    """Collect what one learning-curve plot shows from a Keras-style history dict."""
    train = [float(v) for v in history.get(metric, [])]
    val_values = history.get(f"val_{metric}")
    val = [float(v) for v in val_values] if val_values else None
    best_epoch = None if best_step is None else best_step + 1
    label = ""
    if best_step is not None and monitor in history and best_step < len(history[monitor]):
        label = f"best {monitor} {history[monitor][best_step]:.4f} at epoch {best_step + 1}"
    return CurveInfo(
        metric=metric,
        epochs=list(range(1, len(train) + 1)),
        train=train,
        val=val,
        best_epoch=best_epoch,
        best_label=label,
        stop_reason=stop_reason,
    )


def plot_learning_curve(info: CurveInfo) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    ax.plot(info.epochs, _finite(info.train), "o-", ms=3, label=f"train {info.metric}")
    if info.val is not None:
        ax.plot(info.epochs, _finite(info.val), "s-", ms=3, label=f"validation {info.metric}")
    if info.best_epoch is not None:
        ax.axvline(info.best_epoch, color="tab:green", ls="--", lw=1.2, label=info.best_label)
        if info.best_epoch < len(info.epochs):
            # Epochs after the best one did not improve the monitored value: the tutorials' "start
            # of overfitting" region, shaded so nobody has to find it by eye.
            ax.axvspan(
                info.best_epoch,
                info.epochs[-1],
                color="tab:red",
                alpha=0.06,
                label="after the best epoch",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(info.metric)
    ax.set_title(f"{info.metric}: train vs validation (stopped: {info.stop_reason})")
    if len(info.epochs) <= 20:
        ax.set_xticks(info.epochs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


class ConfusionInfo(NamedTuple):
    matrix: list[list[int]]  # rows = true class, columns = predicted class
    class_names: list[str]
    accuracy: float


def confusion_info(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> ConfusionInfo:
    from sklearn.metrics import confusion_matrix

    labels = list(range(len(class_names)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    accuracy = float(np.trace(matrix) / max(matrix.sum(), 1))
    return ConfusionInfo(matrix.tolist(), [str(c) for c in class_names], accuracy)


def plot_confusion(info: ConfusionInfo, title: str = "test split") -> Figure:
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(info.class_names)
    size = max(4.5, 0.55 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), layout="constrained")
    ConfusionMatrixDisplay(np.array(info.matrix), display_labels=info.class_names).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d"
    )
    ax.set_title(f"Confusion matrix, {title} (accuracy {info.accuracy:.4f})")
    return fig


def _finite(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) else float("nan") for v in values]
