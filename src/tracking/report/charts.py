"""Charts of several metrics over the epochs: all of them on one axis, or loss and accuracy
(MAE) on twin axes. A pure "info" builder from ``tracking.report.curves.Curves``, then a
renderer."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from tracking.report.curves import (
    COLORS,
    X_LABEL,
    Curves,
    epoch_ticks,
    epoch_x,
    finite,
    mark_best,
    new_figure,
)

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


def all_metrics_info(curves: Curves) -> ChartInfo:
    """Every metric of the history on one axis, as ``pd.DataFrame(history.history).plot()``.

    One axis, like the tutorials: a classifier's loss and accuracy both fit in 0..1, which is
    then the range (the tutorials' ``set_ylim(0, 1)``); otherwise matplotlib picks it, and the
    twin axes chart reads better. A regression's ``mse`` (squared units) is drawn on a twin
    axis. The learning rate is orders of magnitude smaller and would lie flat on 0: when it
    changed during the run it gets a small log-scaled panel underneath (not a twin axis, whose
    curve would cross the others); when constant it is only named in the title.
    """
    history, shift_train = curves.history, curves.shift_train
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
        title=f"All metrics (stopped: {curves.stop_reason}){constant}",
        series=series,
        left_label="value",
        right_label="mse" if squared else None,
        below_label="learning rate" if changed else None,
        ylim=(0.0, 1.0) if values and 0 <= min(values) and max(values) <= 1 else None,
        best_epoch=curves.best_epoch,
        best_label=curves.best_label(),
        n_epochs=max((len(v) for v in history.values()), default=0),
        shifted=shift_train,
    )


def twin_axes_info(curves: Curves) -> ChartInfo:
    """Loss on the left axis, accuracy (MAE for regression) on the right: train and validation."""
    history, shift_train = curves.history, curves.shift_train
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
        title=f"{shown}: train vs validation (stopped: {curves.stop_reason})",
        series=series,
        left_label="loss",
        right_label=metric,
        below_label=None,
        ylim=None,
        best_epoch=curves.best_epoch,
        best_label=curves.best_label(),
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
        color = COLORS.get(s.key.removeprefix("val_"))
        style = "s-" if s.key.startswith("val_") else "o--" if s.place != "below" else ".-"
        axes[s.place].plot(s.x, finite(s.y), style, ms=3, color=color, label=s.label)
    if info.right_label is not None:  # a twin axis says which curves it measures by colour
        for place, name in (("left", info.left_label), ("right", info.right_label)):
            axes[place].yaxis.label.set_color(COLORS.get(name, "black"))
    mark_best(ax, info.best_epoch, info.best_label, info.n_epochs)
    if info.ylim is not None:
        ax.set_ylim(*info.ylim)
    ax.set_title(info.title)
    epoch_ticks(ax, info.n_epochs)
    axes.get("below", ax).set_xlabel(X_LABEL[info.shifted])
    handles = [h for a in axes.values() for h in a.get_legend_handles_labels()[0]]
    # Under the chart: with four to seven entries no corner is free of curves.
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8)
    return fig


def _ordered(history: Mapping[str, Sequence[float]]) -> list[str]:
    """Each metric's training key then its validation key, metrics in the history's order."""
    bases = dict.fromkeys(k.removeprefix("val_") for k in history)
    return [k for b in bases for k in (b, f"val_{b}") if k in history]


def _series(history: Mapping[str, Sequence[float]], key: str, place: Place, shift: bool) -> Series:
    name = key.removeprefix("val_").replace("_", " ")
    split = "validation" if key.startswith("val_") else "train"
    label = name if key == "learning_rate" else f"{split} {name}"
    x = epoch_x(len(history[key]), shift and split == "train")
    return Series(key, label, x, [float(v) for v in history[key]], place)
