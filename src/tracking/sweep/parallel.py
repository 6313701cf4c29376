"""The study's parallel coordinates, drawn to be read at a glance.

Optuna's matplotlib version draws the worse trials white on a grey background and writes every
category of a categorical parameter at the same place, so its labels collide. Here the first
axis is the objective, every searched parameter has an axis of its own spanning its search range
(a log range on a log scale, a categorical one with its choices evenly spaced), and each
complete trial is a line coloured from the worst (light) to the best (dark), the best drawn last
in red. ``parallel_info`` is a pure function of the trials (tested by equality);
``draw_parallel`` renders it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from optuna.distributions import (  # noqa: E402
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState  # noqa: E402


class Axis(NamedTuple):
    name: str
    ticks: tuple[float, ...]  # positions on the axis, 0 (bottom) to 1 (top)
    labels: tuple[str, ...]


class ParallelInfo(NamedTuple):
    axes: tuple[Axis, ...]  # the objective first, then the parameters in the trials' order
    lines: tuple[tuple[float, ...], ...]  # one per complete trial, a position per axis (nan: none)
    goodness: tuple[float, ...]  # per line, 0 = the worst value, 1 = the best
    numbers: tuple[int, ...]  # the trials' numbers
    best: int | None  # the best trial's number


def parallel_info(trials: Sequence[FrozenTrial], target: str, minimize: bool) -> ParallelInfo:
    """Complete trials with a finite value, as lines across the objective's and the
    parameters' axes; the best value at the top of the objective's axis."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and _finite(t.value)]
    done.sort(key=lambda t: t.number)
    if not done:
        return ParallelInfo((), (), (), (), None)
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    low, high = min(values), max(values)
    span = high - low or 1.0
    goodness = [(high - v) / span if minimize else (v - low) / span for v in values]
    top, bottom = (low, high) if minimize else (high, low)
    objective = Axis(target, (0.0, 1.0), (_short(bottom), _short(top)))
    names: list[str] = []
    for t in done:
        names += [n for n in t.params if n not in names]
    axes = [objective]
    lines = [[g] for g in goodness]  # the objective's position is how good the value is
    for name in names:
        distribution = next(t.distributions[name] for t in done if name in t.distributions)
        axis, place = _axis(name, distribution)
        axes.append(axis)
        for line, t in zip(lines, done, strict=True):
            line.append(place(t.params[name]) if name in t.params else math.nan)
    best = done[max(range(len(done)), key=lambda i: goodness[i])].number
    return ParallelInfo(
        tuple(axes),
        tuple(tuple(round(p, 6) for p in line) for line in lines),
        tuple(round(g, 6) for g in goodness),
        tuple(t.number for t in done),
        best,
    )


def _axis(name: str, distribution: BaseDistribution) -> tuple[Axis, Any]:
    """The parameter's axis over its whole search range, and where a value sits on it."""
    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        n = len(choices)
        ticks = tuple(round(i / (n - 1), 6) if n > 1 else 0.5 for i in range(n))
        return Axis(name, ticks, tuple(_short(c) for c in choices)), lambda v: ticks[
            choices.index(v)
        ]
    assert isinstance(distribution, (FloatDistribution, IntDistribution))
    log = distribution.log
    low, high = float(distribution.low), float(distribution.high)

    def scale(v: float) -> float:
        return math.log10(v) if log else v

    width = scale(high) - scale(low) or 1.0

    def place(v: Any) -> float:
        return (scale(float(v)) - scale(low)) / width

    marks = [low, high] if not log else [10**e for e in range(_ceil(low), _floor(high) + 1)]
    marks = sorted({low, high, *marks})
    label = name + (" (log)" if log else "")
    return Axis(label, tuple(round(place(m), 6) for m in marks), tuple(map(_short, marks))), place


def _ceil(v: float) -> int:
    return math.ceil(math.log10(v) - 1e-9)


def _floor(v: float) -> int:
    return math.floor(math.log10(v) + 1e-9)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def draw_parallel(info: ParallelInfo, title: str = "") -> Figure:
    """The worst trials light, the best dark, the best one red and bold; one axis per column."""
    n = len(info.axes)
    with plt.style.context("default"):  # not the grey ggplot style Optuna's plots leave set
        fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * n), 5.5))
    cmap = plt.get_cmap("viridis_r")  # light yellow (worst) to dark purple (best)
    xs = list(range(n))
    order = sorted(range(len(info.lines)), key=lambda i: info.goodness[i])
    for i in order:
        best = info.numbers[i] == info.best
        ax.plot(
            xs,
            info.lines[i],
            color="crimson" if best else cmap(0.15 + 0.85 * info.goodness[i]),
            lw=2.6 if best else 1.3,
            alpha=1.0 if best else 0.85,
            zorder=3 if best else 2,
            label=f"trial {info.best} (best)" if best else None,
        )
    for x, axis in enumerate(info.axes):
        ax.axvline(x, color="black", lw=0.8, zorder=1)
        for tick, text in zip(axis.ticks, axis.labels, strict=True):
            ax.plot([x - 0.03, x], [tick, tick], color="black", lw=0.8)
            ax.text(x - 0.05, tick, text, ha="right", va="center", fontsize=8)
    ax.set_xticks(xs, [a.name for a in info.axes], fontsize=9)
    ax.set_xlim(-0.6, n - 0.6)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    bar = fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.02, ticks=[0.15, 1.0])
    bar.ax.set_yticklabels(["worst", "best"])
    bar.ax.set_ylim(0.15, 1.0)  # the lightest colour a line gets
    ax.set_title(title or f"{len(info.lines)} complete trials, best at the top of the first axis")
    if info.best is not None:
        ax.legend(loc="upper right", fontsize=8, bbox_to_anchor=(1.0, 1.12))
    fig.tight_layout()
    return fig
