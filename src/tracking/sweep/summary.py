"""The parent run's summary of a study: numbers, the trial table and plots.

Computing is separate from drawing: ``curves_info`` builds a pure description of every trial's
validation curve (tested by equality), ``draw_curves`` renders it. ``log_summary`` writes
everything to the parent run; it is called at the end of every sweep invocation, so a resumed
study's summary covers all of its trials. Metrics carry ``step = number of trials in the study``,
so their history shows how the study evolved across resumes.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NamedTuple, get_args

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402
from optuna.visualization import matplotlib as ovm  # noqa: E402

from tracking.config import tags as T  # noqa: E402
from tracking.door.tracker import Tracker  # noqa: E402
from tracking.report.diagnosis import DiagnosisLabel  # noqa: E402
from tracking.sweep.parallel import draw_parallel, parallel_info  # noqa: E402

log = logging.getLogger(__name__)
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")
DIAGNOSES: tuple[str, ...] = get_args(DiagnosisLabel)


class TrialCurve(NamedTuple):
    number: int
    state: str  # COMPLETE | PRUNED | FAIL | RUNNING
    steps: tuple[int, ...]  # 0-based epochs, as in MLflow and Optuna
    values: tuple[float, ...]


class CurvesInfo(NamedTuple):
    monitor: str
    curves: tuple[TrialCurve, ...]
    best_number: int | None


def curves_info(trials: Sequence[FrozenTrial], monitor: str, best_number: int | None) -> CurvesInfo:
    """Every trial's reported values, in trial order; trials that reported nothing are left out."""
    curves = []
    for t in sorted(trials, key=lambda t: t.number):
        steps = tuple(sorted(t.intermediate_values))
        if steps:
            values = tuple(float(t.intermediate_values[s]) for s in steps)
            curves.append(TrialCurve(t.number, t.state.name, steps, values))
    return CurvesInfo(monitor, tuple(curves), best_number)


def draw_curves(info: CurvesInfo) -> Figure:
    """Complete trials in colour, pruned ones dashed grey ending in an x, the best one bold."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    cmap = plt.get_cmap("viridis")
    complete = [c for c in info.curves if c.state == "COMPLETE"]
    for c in info.curves:
        epochs = [s + 1 for s in c.steps]  # human axis: epoch N = step + 1
        if c.state == "COMPLETE":
            color = cmap(complete.index(c) / max(len(complete) - 1, 1))
            best = c.number == info.best_number
            ax.plot(
                epochs,
                c.values,
                color="crimson" if best else color,
                lw=2.8 if best else 1.2,
                zorder=3 if best else 2,
                label=f"trial {c.number} (best)" if best else None,
            )
        else:
            style = {"PRUNED": ("grey", "--"), "FAIL": ("red", ":")}.get(c.state, ("grey", ":"))
            ax.plot(epochs, c.values, color=style[0], ls=style[1], lw=0.9, alpha=0.7, zorder=1)
            ax.plot(epochs[-1:], c.values[-1:], "x", color=style[0], ms=6, zorder=1)
    counts = Counter(c.state for c in info.curves)
    ax.plot([], [], color="grey", ls="--", label=f"pruned ({counts['PRUNED']}), x = pruned at")
    ax.plot([], [], color=cmap(0.5), label=f"complete ({counts['COMPLETE']})")
    if "loss" in info.monitor and _spread(info) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
    ax.set_ylabel(info.monitor)
    ax.set_title(f"{info.monitor} of every trial ({len(info.curves)} trials)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def _spread(info: CurvesInfo) -> float:
    values = [v for c in info.curves for v in c.values if math.isfinite(v) and v > 0]
    return max(values) / min(values) if values else 1.0


def state_counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    counts = Counter(t.state.name for t in trials)
    return {s: counts.get(s, 0) for s in STATES}


def diagnosis_counts(trials: Sequence[FrozenTrial]) -> dict[str, float]:
    """``n_diagnosis_<label>``, every label: how the curves of the study's trials read (a
    trial's user attr ``diagnosis``; pruned and failed trials have none)."""
    counts = Counter(t.user_attrs.get("diagnosis") for t in trials)
    return {f"n_diagnosis_{label}": float(counts[label]) for label in DIAGNOSES}


def log_summary(tracker: Tracker, study: optuna.Study, parent_run_id: str, monitor: str) -> None:
    """Write the study's summary to the parent run (safe to call again after a resume)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    step = len(trials)
    metrics = {f"n_trials_{s.lower()}": float(n) for s, n in state_counts(trials).items()}
    metrics["n_trials"] = float(step)
    metrics.update(diagnosis_counts(trials))
    tags: dict[str, str] = {T.OPTUNA_N_TRIALS: str(step)}
    if best is not None:
        metrics["best_value"] = float(best.value)  # type: ignore[arg-type]
        metrics["best_trial_number"] = float(best.number)
        # Numbers as metrics; every param (optimizer=adam too) as a tag below.
        numbers = {k: v for k, v in best.params.items() if isinstance(v, (int, float))}
        metrics.update({f"best_{k}": float(v) for k, v in numbers.items()})
        tags.update({f"best.{k}": repr(v) for k, v in best.params.items()})
        tags[T.OPTUNA_BEST_TRIAL_NUMBER] = str(best.number)
        tags[T.BEST_RUN_ID] = str(best.user_attrs.get(T.RUN_ID_ATTR, ""))
        tags[f"best.{monitor}"] = repr(best.value)
    tracker.log_metrics(parent_run_id, metrics, step=step)
    tracker.set_tags(parent_run_id, tags)
    tracker.log_table(parent_run_id, study.trials_dataframe(), "summary/trials.csv")
    figures: dict[str, Callable[[], Figure]] = {
        "trial_curves.png": lambda: draw_curves(
            curves_info(trials, monitor, best.number if best else None)
        )
    }
    figures.update(_optuna_figures(study, len(complete), f"best {monitor}"))
    for name, build in figures.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's matplotlib plots are "experimental"
                fig = build()
        except Exception as exc:  # a plot that cannot be drawn yet must not lose the sweep
            log.info("summary plot %s skipped: %s", name, exc)
            continue
        tracker.log_figure(parent_run_id, fig, f"summary/{name}", bbox_inches="tight")


def _optuna_figures(
    study: optuna.Study, n_complete: int, target_name: str
) -> dict[str, Callable[[], Figure]]:
    def figure_of(plot, **kwargs):  # type: ignore[no-untyped-def]
        def build() -> Figure:
            ax = plot(study, **kwargs)
            ax = ax.flat[0] if hasattr(ax, "flat") else ax
            ax.figure.set_size_inches(10, 6)
            ax.figure.tight_layout()
            return ax.figure

        return build

    figures = {
        "optimization_history.png": figure_of(
            ovm.plot_optimization_history, target_name=target_name
        ),
        "intermediate_values.png": figure_of(ovm.plot_intermediate_values),
    }
    if n_complete >= 2:  # importances and parallel coordinates need two finished trials
        figures["param_importances.png"] = figure_of(
            ovm.plot_param_importances, target_name=target_name
        )
        minimize = study.direction == optuna.study.StudyDirection.MINIMIZE
        figures["parallel_coordinate.png"] = lambda: draw_parallel(  # ours: tracking.sweep.parallel
            parallel_info(study.get_trials(deepcopy=False), target_name, minimize)
        )
    else:
        log.info("param importances and parallel coordinate need 2 complete trials; skipped")
    return figures
