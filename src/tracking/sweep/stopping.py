"""A study that stops itself: ``-P stop_after=N`` and ``-P target=<value>``.

``stop_rule`` reads the study as its storage holds it, so every process of a sweep (this one,
each worker, a resumed invocation) reaches the same verdict: ``stop_after`` once the last N
complete trials (by trial number) have not improved the best value, ``target`` once the best
value reaches the target in the monitor's direction. ``StopRules`` is the Optuna callback that
calls ``study.stop()`` in each process after a trial; ``tracking.sweep.trials.remaining`` then
counts nothing left, so no worker is started or replaced. Why a sweep stopped (``why_stopped``)
is tagged on its parent run (``stop_reason``) and said on the console's last line.
"""

from __future__ import annotations

import logging
from typing import Literal

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tracking.sweep.config import SweepConfig

log = logging.getLogger(__name__)
SweepStop = Literal["n_trials", "timeout", "stop_after", "target"]


def _better(direction: StudyDirection, value: float, than: float) -> bool:
    return value < than if direction == StudyDirection.MINIMIZE else value > than


def stop_rule(study: optuna.Study, sweep: SweepConfig) -> SweepStop | None:
    """``"target"`` or ``"stop_after"`` when the study has met that rule, else None."""
    if sweep.stop_after == 0 and sweep.target_value is None:
        return None
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete = sorted(complete, key=lambda t: t.number)
    direction = study.direction
    best: float | None = None
    since = 0  # complete trials since the best value last improved
    for trial in complete:
        assert trial.value is not None
        if best is None or _better(direction, trial.value, best):
            best, since = trial.value, 0
        else:
            since += 1
    target = sweep.target_value
    if best is not None and target is not None and not _better(direction, target, best):
        return "target"
    if sweep.stop_after and since >= sweep.stop_after:
        return "stop_after"
    return None


class StopRules:
    """Optuna callback: ``study.stop()`` once ``stop_rule`` says so (in every process)."""

    def __init__(self, sweep: SweepConfig) -> None:
        self.sweep = sweep

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        rule = stop_rule(study, self.sweep)
        if rule is not None:
            log.info("study %s stops: %s", study.study_name, describe(rule, self.sweep))
            study.stop()


def why_stopped(
    study: optuna.Study, sweep: SweepConfig, counted: int, timed_out: bool
) -> SweepStop | None:
    """Why a sweep stopped starting trials: a stop rule, ``n_trials`` counted, the timeout;
    None when none of these (an interruption, or trials that all failed)."""
    if rule := stop_rule(study, sweep):
        return rule
    if counted >= sweep.n_trials:
        return "n_trials"
    return "timeout" if timed_out else None


def describe(reason: SweepStop, sweep: SweepConfig) -> str:
    """The reason in words, for the console."""
    return {
        "n_trials": f"n_trials={sweep.n_trials} trials counted",
        "timeout": f"timeout={sweep.timeout:g} s passed",
        "stop_after": f"stop_after={sweep.stop_after} complete trials in a row did not improve",
        "target": f"the best value reached target={sweep.target}",
    }[reason]
