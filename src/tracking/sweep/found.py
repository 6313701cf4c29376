"""What the sweep found, in a few sentences: its champion's parameters against the base
configuration's (trial 0, the defaults of a single run) and the gain on the test split with its
95 % interval.

``found_text`` is a pure function of a ``Found`` (tested by equality); ``describe`` gathers one
from the study and its promotions, scores both models on the same test rows
(``tracking.sweep.significance.paired_gain``) and writes the text as the parent run's
description (``mlflow.note.content``), where the MLflow UI shows it and the sweep's console
prints it last.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from optuna.trial import FrozenTrial, TrialState

from tracking.config.train import PROMOTION_METRIC, TEST_METRIC_MODES
from tracking.data.datasets import Dataset
from tracking.sweep.opening import StudyRun
from tracking.sweep.promotion import Promotion, score_rows
from tracking.sweep.significance import paired_gain

log = logging.getLogger(__name__)


class Side(NamedTuple):
    """One trial as the summary names it."""

    label: str  # "trial 7", "refit of trial 7"
    number: int
    params: dict[str, Any]
    value: float  # the study's objective: the best monitor, or its mean over folds
    spread: float | None = None  # the folds' standard deviation (None: one split)
    folds: int = 0


class Gain(NamedTuple):
    """The champion against the base on the same test rows; positive = better."""

    metric: str  # test_accuracy | test_mae
    champion: float
    base: float
    gain: float
    low: float  # 95 % interval of the gain
    high: float
    rows: int


class Found(NamedTuple):
    monitor: str
    champion: Side | None  # None: no complete trial
    base: Side | None  # trial 0 when it completed
    gain: Gain | None = None


def found_text(found: Found) -> str:
    """The parent run's description and the console's last lines."""
    champion, base, monitor = found.champion, found.base, found.monitor
    if champion is None:
        return "The sweep found no model: no trial completed."
    lines = [f"Champion: {champion.label} ({_score(champion, monitor)})."]
    if base is None:
        lines.append(
            "No base configuration to compare with: trial 0 did not complete, or every "
            "dimension was fixed."
        )
    elif base.number == champion.number:
        lines.append(f"It is the base configuration (trial 0): no searched trial beat its "
                     f"{monitor}.")  # fmt: skip
    else:
        lines.append(f"Base configuration (trial 0): {_score(base, monitor)}.")
        lines.append(f"Changed from the base: {changes(base.params, champion.params)}.")
    if found.gain is not None:
        g = found.gain
        said = g.metric.replace("_", " ")
        lines.append(
            f"{said.capitalize()} {g.champion:.4f} against {g.base:.4f} for the base: gain "
            f"{g.gain:+.4f} (95 % CI {g.low:+.4f} to {g.high:+.4f}, paired over {g.rows} test "
            "rows)."
        )
        if base is not None and base.folds and champion.label.startswith("refit"):
            lines.append(f"(Trial 0's model was fit on {base.folds - 1} of its {base.folds} "
                         "folds, the refit on every training row.)")  # fmt: skip
    return "\n".join(lines)


def changes(base: dict[str, Any], champion: dict[str, Any]) -> str:
    """``learning_rate 0.001 -> 0.00312, batch_size 128 -> 64`` (the parameters that differ,
    in the champion's order; one only one of them has is ``-``); ``none`` when all agree."""
    names = list(champion) + [n for n in base if n not in champion]
    differ = [n for n in names if base.get(n) != champion.get(n)]
    if not differ:
        return "none"
    return ", ".join(f"{n} {_short(base.get(n))} -> {_short(champion.get(n))}" for n in differ)


def _score(side: Side, monitor: str) -> str:
    if side.spread is None:
        return f"{monitor} {side.value:.4f}"
    return f"{monitor} {side.value:.4f} +- {side.spread:.4f} over {side.folds} folds"


def _short(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def side_of(trial: FrozenTrial, label: str) -> Side:
    attrs = trial.user_attrs
    folds = len(attrs.get("cv_values", ()))
    spread = float(attrs["cv_std"]) if folds else None
    return Side(label, trial.number, dict(trial.params), float(trial.value or 0.0), spread, folds)


def base_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """Trial 0 when it is the base configuration and completed."""
    for trial in trials:
        if trial.user_attrs.get("base_configuration") and trial.state == TrialState.COMPLETE:
            return trial
    return None


def describe(
    run: StudyRun, dataset: Dataset, best: Promotion | None, refit: Promotion | None
) -> str:
    """Gather what the sweep found, write it as the parent run's description, return it."""
    study, tracker = run.study, run.tracker
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    winner = study.best_trial if complete else None
    base = base_trial(trials)
    found = Found(run.base.monitor, None, None)
    if winner is not None:
        label = f"refit of trial {winner.number}" if refit else f"trial {winner.number}"
        promoted = refit or best
        found = Found(
            run.base.monitor,
            side_of(winner, label),
            None if base is None else side_of(base, f"trial {base.number}"),
        )
        uri = (f"models:/{promoted.name}/{promoted.version}" if promoted
               else winner.user_attrs.get("model_uri"))  # fmt: skip
        compare = base is not None and (refit is not None or base.number != winner.number)
        if compare and uri and base is not None and base.user_attrs.get("model_uri"):
            found = found._replace(gain=gain_of(run, dataset, str(uri), base))
    text = found_text(found)
    tracker.set_description(run.parent_run_id, text)
    return text


def gain_of(run: StudyRun, dataset: Dataset, champion_uri: str, base: FrozenTrial) -> Gain | None:
    """The champion's model against trial 0's, scored on the same test rows."""
    metric = PROMOTION_METRIC[run.base.task]
    try:
        ours = score_rows(run.tracker, champion_uri, dataset, metric)
        theirs = score_rows(run.tracker, str(base.user_attrs["model_uri"]), dataset, metric)
    except Exception as error:  # the summary must not lose the sweep
        log.warning("gain against the base not measured: %s", error)
        return None
    gain, (low, high) = paired_gain(ours, theirs, TEST_METRIC_MODES[metric] == "max")
    return Gain(metric, ours.value, theirs.value, gain, low, high, len(ours.rows))
