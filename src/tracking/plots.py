"""Learning curves and the confusion matrix: a pure "info" builder, then a renderer.

The info objects are plain data, tested by equality; the renderers only draw them. Human-facing
text says "epoch N" with N = step + 1, and so does the x axis.

``shift_train``: Keras averages the training metrics over the batches of an epoch but measures
validation at its end, so the training value belongs half an epoch earlier; shifted, it is drawn
at epoch - 0.5 and the gap between the curves is not exaggerated early on.

Figures are ``matplotlib.figure.Figure`` objects, never pyplot's: nothing global, no window, and
they can be drawn in a thread while training goes on (``tracking.training``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix


class CurveInfo(NamedTuple):
    metric: str  # "loss" or "accuracy"
    epochs: list[int]  # 1-based
    train: list[float]
    val: list[float] | None
    best_epoch: int | None  # 1-based epoch of the best weights
    best_label: str  # e.g. "best val_loss 0.0712 at epoch 7"
    stop_reason: str
    train_x: list[float] | None = None  # x of the training values when shifted; None = epochs


def learning_curve_info(
    history: Mapping[str, Sequence[float]],
    metric: str,
    *,
    monitor: str,
    best_step: int | None,
    stop_reason: str,
    shift_train: bool = False,
) -> CurveInfo:
    """Collect what one learning-curve plot shows from a Keras-style history dict."""
    train = [float(v) for v in history.get(metric, [])]
    val_values = history.get(f"val_{metric}")
    val = [float(v) for v in val_values] if val_values else None
    return CurveInfo(
        metric=metric,
        epochs=list(range(1, len(train) + 1)),
        train=train,
        val=val,
        best_epoch=None if best_step is None else best_step + 1,
        best_label=_best_label(history, monitor, best_step),
        stop_reason=stop_reason,
        train_x=_x(len(train), shift_train) if shift_train else None,
    )


def plot_learning_curve(info: CurveInfo) -> Figure:
    fig, ax = new_figure((7, 4.5))
    train_x = info.epochs if info.train_x is None else info.train_x
    ax.plot(train_x, _finite(info.train), "o-", ms=3, label=f"train {info.metric}")
    if info.val is not None:
        ax.plot(info.epochs, _finite(info.val), "s-", ms=3, label=f"validation {info.metric}")
    _mark_best(ax, info.best_epoch, info.best_label, len(info.epochs))
    ax.set_xlabel(_X_LABEL[info.train_x is not None])
    ax.set_ylabel(info.metric)
    ax.set_title(f"{info.metric}: train vs validation (stopped: {info.stop_reason})")
    _epoch_ticks(ax, len(info.epochs))
    ax.legend(fontsize=8)
    return fig


Place = Literal["left", "right", "below"]  # y axis, twin y axis, small log panel underneath


class Series(NamedTuple):
    key: str  # the history key, e.g. "val_loss"
    label: str  # e.g. "validation loss"
    x: list[float]  # 1-based epochs, - 0.5 for shifted training values
    y: list[float]
    place: Place


class ChartInfo(NamedTuple):
    """Several series over the epochs: one y axis, optionally a twin axis or a panel underneath."""

    title: str
    series: list[Series]
    left_label: str
    right_label: str | None  # None: no twin axis
    below_label: str | None  # None: no panel underneath
    ylim: tuple[float, float] | None  # of the left axis; None: matplotlib's own
    best_epoch: int | None  # 1-based
    best_label: str
    n_epochs: int
    shifted: bool


def all_metrics_info(
    history: Mapping[str, Sequence[float]],
    *,
    monitor: str,
    best_step: int | None,
    stop_reason: str,
    shift_train: bool = False,
) -> ChartInfo:
    """Every metric of the history on one axis, as ``pd.DataFrame(history.history).plot()``.

    One axis, like the tutorials: a classifier's loss and accuracy both fit in 0..1, which is
    then the range (the tutorials' ``set_ylim(0, 1)``); otherwise matplotlib picks it, and the
    twin axes chart reads better. A regression's ``mse`` (squared units) is drawn on a twin
    axis. The learning rate is orders of magnitude smaller and would lie flat on 0: when it
    changed during the run it gets a small log-scaled panel underneath (not a twin axis, whose
    curve would cross the others); when constant it is only named in the title.
    """
    keys = [k for k in _ordered(history) if k != "learning_rate"]
    # A regression's mse is in squared units, hundreds of times its mae: it gets a twin axis.
    squared = {k for k in keys if k.removeprefix("val_") == "mse"} if len(keys) > 2 else set()
    series = [_series(history, k, "right" if k in squared else "left", shift_train) for k in keys]
    lr = [float(v) for v in history.get("learning_rate", [])]
    changed = len(set(lr)) > 1
    if changed:
        series.append(_series(history, "learning_rate", "below", False))
    values = [v for s in series if s.place == "left" for v in s.y if math.isfinite(v)]
    constant = f", learning rate {lr[0]:.3g} throughout" if lr and not changed else ""
    return ChartInfo(
        title=f"All metrics (stopped: {stop_reason}){constant}",
        series=series,
        left_label="value",
        right_label="mse" if squared else None,
        below_label="learning rate" if changed else None,
        ylim=(0.0, 1.0) if values and 0 <= min(values) and max(values) <= 1 else None,
        best_epoch=None if best_step is None else best_step + 1,
        best_label=_best_label(history, monitor, best_step),
        n_epochs=max((len(v) for v in history.values()), default=0),
        shifted=shift_train,
    )


def twin_axes_info(
    history: Mapping[str, Sequence[float]],
    *,
    monitor: str,
    best_step: int | None,
    stop_reason: str,
    shift_train: bool = False,
) -> ChartInfo:
    """Loss on the left axis, accuracy (MAE for regression) on the right: train and validation."""
    metric = next((m for m in ("accuracy", "mae") if m in history), None)
    pairs: list[tuple[str, Place]] = [("loss", "left")]
    pairs += [] if metric is None else [(metric, "right")]
    series = [
        _series(history, key, place, shift_train)
        for base, place in pairs
        for key in (base, f"val_{base}")
        if key in history
    ]
    shown = "loss" if metric is None else f"loss and {metric}"
    return ChartInfo(
        title=f"{shown}: train vs validation (stopped: {stop_reason})",
        series=series,
        left_label="loss",
        right_label=metric,
        below_label=None,
        ylim=None,
        best_epoch=None if best_step is None else best_step + 1,
        best_label=_best_label(history, monitor, best_step),
        n_epochs=len(history.get("loss", [])),
        shifted=shift_train,
    )


def plot_chart(info: ChartInfo) -> Figure:
    """Draw an ``all_metrics_info`` or a ``twin_axes_info``: colour = metric, line = split."""
    if info.below_label is None:
        fig, ax = new_figure((8, 5))
        axes = {"left": ax}
    else:
        fig = Figure(figsize=(8, 6), layout="constrained")
        ax, below = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
        axes = {"left": ax, "below": below}
        below.set_ylabel(info.below_label)
        below.set_yscale("log")  # labelled 0.001, 0.0005 rather than 10^-3, 5 x 10^-4
        below.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        below.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        below.yaxis.set_minor_formatter(NullFormatter())
        below.grid(alpha=0.3)
    ax.set_ylabel(info.left_label)
    if info.right_label is not None:
        axes["right"] = ax.twinx()
        axes["right"].set_ylabel(info.right_label)
    for s in info.series:
        color = _COLORS.get(s.key.removeprefix("val_"))
        style = "s-" if s.key.startswith("val_") else "o--" if s.place != "below" else ".-"
        axes[s.place].plot(s.x, _finite(s.y), style, ms=3, color=color, label=s.label)
    if info.right_label is not None:  # a twin axis says which curves it measures by colour
        for place, name in (("left", info.left_label), ("right", info.right_label)):
            axes[place].yaxis.label.set_color(_COLORS.get(name, "black"))
    _mark_best(ax, info.best_epoch, info.best_label, info.n_epochs)
    if info.ylim is not None:
        ax.set_ylim(*info.ylim)
    ax.set_title(info.title)
    _epoch_ticks(ax, info.n_epochs)
    axes.get("below", ax).set_xlabel(_X_LABEL[info.shifted])
    handles = [h for a in axes.values() for h in a.get_legend_handles_labels()[0]]
    # Under the chart: with four to seven entries no corner is free of curves.
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
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


_X_LABEL = {False: "epoch", True: "epoch (training values half an epoch left: epoch averages)"}
_COLORS = {
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


def _finite(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) else float("nan") for v in values]


def _x(n: int, shifted: bool) -> list[float]:
    return [e - 0.5 if shifted else float(e) for e in range(1, n + 1)]


def _best_label(history: Mapping[str, Sequence[float]], monitor: str, best_step: int | None) -> str:
    if best_step is None or monitor not in history or best_step >= len(history[monitor]):
        return ""
    return f"best {monitor} {history[monitor][best_step]:.4f} at epoch {best_step + 1}"


def _ordered(history: Mapping[str, Sequence[float]]) -> list[str]:
    """Each metric's training key then its validation key, metrics in the history's order."""
    bases = dict.fromkeys(k.removeprefix("val_") for k in history)
    return [k for b in bases for k in (b, f"val_{b}") if k in history]


def _series(history: Mapping[str, Sequence[float]], key: str, place: Place, shift: bool) -> Series:
    name = key.removeprefix("val_").replace("_", " ")
    split = "validation" if key.startswith("val_") else "train"
    label = name if key == "learning_rate" else f"{split} {name}"
    x = _x(len(history[key]), shift and split == "train")
    return Series(key, label, x, [float(v) for v in history[key]], place)


def _mark_best(ax: Axes, best_epoch: int | None, label: str, last_epoch: int) -> None:
    if best_epoch is None:
        return
    ax.axvline(best_epoch, color="tab:green", ls="--", lw=1.2, label=label)
    if best_epoch < last_epoch:
        # Epochs after the best one did not improve the monitored value: the tutorials' "start
        # of overfitting" region, shaded so nobody has to find it by eye.
        ax.axvspan(
            best_epoch, last_epoch, color="tab:red", alpha=0.06, label="after the best epoch"
        )


def _epoch_ticks(ax: Axes, n_epochs: int) -> None:
    if n_epochs <= 20:
        ax.set_xticks(range(1, n_epochs + 1))
    ax.grid(alpha=0.3)
