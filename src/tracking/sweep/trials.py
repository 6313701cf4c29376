"""Trials in one process, and how the study counts them.

``optimize`` is Optuna's ``study.optimize`` with the sweep's callbacks: one line per trial, the
trial's run tagged with its final state, the cap of ``n_trials`` for the whole study (all
processes together). A sweep that runs its trials in this process calls it, and so does each
worker process (``tracking.sweep.workers``). ``remaining`` and ``finished`` count the study's
trials; ``Deadline`` is the study's ``timeout``, measured from the start of this invocation.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from tracking.report.artifacts import wait_for_figures
from tracking.sweep.config import SweepConfig
from tracking.sweep.faults import requeue
from tracking.sweep.interrupts import INTERRUPTS
from tracking.sweep.objective import Objective, StateTagger, progress_line
from tracking.sweep.stopping import StopRules, stop_rule

log = logging.getLogger(__name__)
# Trials that count towards n_trials: finished ones, and running ones. A killed worker's trial
# is FAIL and does not count; its retry waits (WAITING) for the next free worker to take it.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass(frozen=True)
class Deadline:
    """When this invocation stops starting trials (``at`` on the monotonic clock; None: never)."""

    at: float | None

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds if seconds else None)

    def left(self) -> float | None:
        """Seconds left (0 or less once passed); None without a deadline."""
        return None if self.at is None else self.at - time.monotonic()

    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


def finished(study: optuna.Study) -> int:
    """The study's COMPLETE and PRUNED trials."""
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def counted(study: optuna.Study) -> int:
    """The trials that count towards ``n_trials`` (``COUNTED``)."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def remaining(study: optuna.Study, sweep: SweepConfig) -> int:
    """How many more trials the study needs to count ``n_trials``: none once a stop rule
    (``stop_after``, ``target``) is met."""
    if stop_rule(study, sweep) is not None:
        return 0
    return max(sweep.n_trials - len(study.get_trials(deepcopy=False, states=COUNTED)), 0)


def optimize(
    study: optuna.Study,
    objective: Objective,
    sweep: SweepConfig,
    *,
    max_trials: int | None,
    timeout: float | None = None,
    show_progress_bar: bool = False,
    label: str = "",
) -> None:
    """Run trials until the study counts ``n_trials`` (all workers together), ``timeout``
    passes, or this process has run ``max_trials``."""
    tag_state = StateTagger(objective.tracker)
    # This invocation's trials: the new ones, and the queued ones it takes (trial 0, retries).
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    first = min([t.number for t in waiting] + [len(study.trials)])
    try:
        with INTERRUPTS.installed():  # Ctrl-C, SIGTERM stop a trial, not Optuna's bookkeeping
            study.optimize(
                objective,
                n_trials=max_trials,
                timeout=timeout,
                catch=(Exception,),  # a failed trial is a FAIL state, not the end of the sweep
                callbacks=[
                    MaxTrialsCallback(sweep.n_trials, states=COUNTED),
                    StopRules(sweep),  # stop_after, target: read from storage, in every process
                    tag_state,
                    lambda s, t: log.info(label + progress_line(s, t, objective.base.monitor)),
                ],
                gc_after_trial=True,
                show_progress_bar=show_progress_bar,
            )
    except KeyboardInterrupt:  # the interrupted trial continues, from its backup, next time
        requeue(study, objective.interrupted)
        raise
    finally:
        wait_for_figures()  # the pruned trials' curves, logged in the background
        tag_state.sync(study, first)
    if objective.monitor_error is not None:
        raise objective.monitor_error
