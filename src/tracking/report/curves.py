"""Learning curves and the confusion matrix: a pure "info" builder, then a renderer.

The info objects are plain data, tested by equality; the renderers only draw them. Human-facing
text says "epoch N" with N = step + 1, and so does the x axis. What every curve is drawn from
travels as one ``Curves``; the charts of several metrics at once are in ``tracking.report.charts``.

``shift_train``: Keras averages the training metrics over the batches of an epoch but measures
validation at its end, so the training value belongs half an epoch earlier; shifted, it is drawn
at epoch - 0.5 and the gap between the curves is not exaggerated early on.

Figures are ``matplotlib.figure.Figure`` objects, never pyplot's: nothing global, no window, and
they can be drawn in a thread while training goes on (``tracking.run.training``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix


@dataclass(frozen=True)
class Curves:
    """What every learning-curve chart of a run is drawn from."""

    history: Mapping[str, Sequence[float]]  # Keras's History.history
    monitor: str  # the key the best weights were chosen by
    best_step: int | None  # 0-based epoch of the best weights
    stop_reason: str
    shift_train: bool = False  # training values half an epoch left (module docstring)

    @property
    def best_epoch(self) -> int | None:
        """1-based, as text and the x axis say it."""
        return None if self.best_step is None else self.best_step + 1

    def best_label(self) -> str:
        """E.g. "best val_loss 0.0712 at epoch 7"; "" when unknown."""
        values = self.history.get(self.monitor, ())
        if self.best_step is None or self.best_step >= len(values):
            return ""
        return f"best {self.monitor} {values[self.best_step]:.4f} at epoch {self.best_step + 1}"


class CurveInfo(NamedTuple):
    metric: str  # "loss" or "accuracy"
    epochs: list[int]  # 1-based
    train: list[float]
    val: list[float] | None
    best_epoch: int | None  # 1-based epoch of the best weights
    best_label: str  # e.g. "best val_loss 0.0712 at epoch 7"
    stop_reason: str
    train_x: list[float] | None = None  # x of the training values when shifted; None = epochs


def learning_curve_info(curves: Curves, metric: str) -> CurveInfo:
    """Collect what one learning-curve plot of ``metric`` shows."""
    train = [float(v) for v in curves.history.get(metric, [])]
    val_values = curves.history.get(f"val_{metric}")
    val = [float(v) for v in val_values] if val_values else None
    return CurveInfo(
        metric=metric,
        epochs=list(range(1, len(train) + 1)),
        train=train,
        val=val,
        best_epoch=curves.best_epoch,
        best_label=curves.best_label(),
        stop_reason=curves.stop_reason,
        train_x=epoch_x(len(train), True) if curves.shift_train else None,
    )


def plot_learning_curve(info: CurveInfo) -> Figure:
    fig, ax = new_figure((7, 4.5))
    train_x = info.epochs if info.train_x is None else info.train_x
    ax.plot(train_x, finite(info.train), "o-", ms=3, label=f"train {info.metric}")
    if info.val is not None:
        ax.plot(info.epochs, finite(info.val), "s-", ms=3, label=f"validation {info.metric}")
    mark_best(ax, info.best_epoch, info.best_label, len(info.epochs))
    ax.set_xlabel(X_LABEL[info.train_x is not None])
    ax.set_ylabel(info.metric)
    ax.set_title(f"{info.metric}: train vs validation (stopped: {info.stop_reason})")
    epoch_ticks(ax, len(info.epochs))
    ax.legend(fontsize=8)
    return fig


class ConfusionInfo(NamedTuple):
    matrix: list[list[int]]  # rows = true class, columns = predicted class
    class_names: list[str]
    accuracy: float


def confusion_info(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> ConfusionInfo:
    labels = list(range(len(class_names)))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    accuracy = float(np.trace(matrix) / max(matrix.sum(), 1))
    return ConfusionInfo(matrix.tolist(), [str(c) for c in class_names], accuracy)


def plot_confusion(info: ConfusionInfo, title: str = "test split") -> Figure:
    n = len(info.class_names)
    size = max(4.5, 0.55 * n + 2)
    fig, ax = new_figure((size, size * 0.9))
    ConfusionMatrixDisplay(np.array(info.matrix), display_labels=info.class_names).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d"
    )
    ax.set_title(f"Confusion matrix, {title} (accuracy {info.accuracy:.4f})")
    return fig


X_LABEL = {False: "epoch", True: "epoch (training values half an epoch left: epoch averages)"}
COLORS = {
    "loss": "tab:blue",
    "accuracy": "tab:orange",
    "mae": "tab:green",
    "mse": "tab:purple",
    "learning_rate": "tab:gray",
}


def new_figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    """A figure of ``size`` inches with one axis, outside pyplot (see the module docstring)."""
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots()


def finite(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) else float("nan") for v in values]


def epoch_x(n: int, shifted: bool) -> list[float]:
    return [e - 0.5 if shifted else float(e) for e in range(1, n + 1)]


def mark_best(ax: Axes, best_epoch: int | None, label: str, last_epoch: int) -> None:
    if best_epoch is None:
        return
    ax.axvline(best_epoch, color="tab:green", ls="--", lw=1.2, label=label)
    if best_epoch < last_epoch:
        # Epochs after the best one did not improve the monitored value: the tutorials' "start
        # of overfitting" region, shaded so nobody has to find it by eye.
        ax.axvspan(
            best_epoch, last_epoch, color="tab:red", alpha=0.06, label="after the best epoch"
        )


def epoch_ticks(ax: Axes, n_epochs: int) -> None:
    if n_epochs <= 20:
        ax.set_xticks(range(1, n_epochs + 1))
    ax.grid(alpha=0.3)
