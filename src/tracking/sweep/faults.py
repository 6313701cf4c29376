"""Killed workers: their trials are failed by Optuna's heartbeats and retried, and their MLflow
runs never stay RUNNING.

``StaleTrials`` is the storage's ``heartbeat_stale_trial_callback``. Whichever worker notices a
stale trial (Optuna checks before each new trial, and ``tracking.sweep.study`` before it
finishes) ends the trial's MLflow run FAILED with ``stop_reason=worker_lost`` and queues a retry
with Optuna's ``RetryHeartbeatStaleTrialCallback``: same params, the killed trial's intermediate
values (so the pruner judges the whole curve) and user attrs (its MLflow run id), and the system
attr ``failed_trial``. The retry then continues that run from its last backed-up epoch when the
backup is reachable (``tracking.sweep.objective``), or starts afresh in a new run.

Imports nothing heavy: the storage is opened before MLflow or TensorFlow load; the sweep hands
the tracker over once it has one.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

from tracking.config import tags as T

if TYPE_CHECKING:
    from tracking.door.tracker import Tracker

log = logging.getLogger(__name__)
MAX_RETRIES = 3  # a trial whose worker died this many times is left FAIL


class StaleTrials:
    """End a dead worker's trial run FAILED (``worker_lost``) and queue the trial again."""

    def __init__(self, max_retry: int = MAX_RETRIES) -> None:
        with warnings.catch_warnings():  # "experimental" since Optuna 2.8, stable in practice
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=max_retry, inherit_intermediate_values=True
            )
        self.tracker: Tracker | None = None  # set by the sweep once MLflow is loaded

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get(T.RUN_ID_ATTR)
        log.warning(
            "trial %d of study %s lost its worker (no heartbeat); it is retried",
            trial.number,
            study.study_name,
        )
        if run_id and self.tracker is not None:
            self.tracker.set_tags(run_id, {T.STOP_REASON: "worker_lost", T.OPTUNA_STATE: "FAIL"})
            self.tracker.end_run(run_id, "FAILED")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry(study, trial)


def retried_trial(trial: optuna.Trial) -> int | None:
    """The number of the killed trial that ``trial`` retries (Optuna's ``failed_trial``)."""
    (frozen,) = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
    number = frozen.system_attrs.get("failed_trial")
    return None if number is None else int(number)


def end_orphan_runs(tracker: Tracker, study: optuna.Study) -> None:
    """Every FAIL trial's MLflow run ends FAILED, whoever failed it (no RUNNING orphans)."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        run_id = trial.user_attrs.get(T.RUN_ID_ATTR)
        if run_id and tracker.run_status(run_id) == "RUNNING":
            tracker.set_tags(run_id, {T.STOP_REASON: "worker_lost", T.OPTUNA_STATE: "FAIL"})
            tracker.end_run(run_id, "FAILED")


def requeue(study: optuna.Study, numbers: list[int]) -> None:
    """Queue the trials stopped by Ctrl-C or SIGTERM again (same params and values, as for a
    killed worker), so that running the command again continues them from their backups."""
    retry = StaleTrials().retry
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        if trial.number in numbers:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                retry(study, trial)
