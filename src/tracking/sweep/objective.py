"""One trial: a child run created first, then ``training.train`` in it, pruned per epoch.

The value is the best ``monitor`` reached in the trial (what the best-weight model scores on
validation). On small data (``tracking.sweep.crossval``) it is the mean over k folds: the first
fold trains in the trial's run, pruned per epoch like any trial, and only a trial that finished
it trains the other folds, each in a run nested under the trial's (tag ``sweep.role=fold``); the
trial's run logs ``cv_<monitor>_mean``, ``cv_<monitor>_std`` and ``cv_folds``.
The child run exists before training starts, so the trial carries its id (user attr
``tags.RUN_ID_ATTR``) from the first moment; ``optuna.state`` is set on the run once Optuna has
decided (COMPLETE, PRUNED, FAIL), and pruned trials also say at which epoch.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from tracking.config import tags as T
from tracking.config.errors import MonitorError, Terminated
from tracking.config.tags import RUN_ID_ATTR
from tracking.config.train import TrainConfig, validate
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.run.resume import find_backup, run_backup_dir
from tracking.run.training import TrainResult, train
from tracking.sweep.config import SweepConfig
from tracking.sweep.crossval import CvScore, fold_datasets, folds_for
from tracking.sweep.faults import retried_trial
from tracking.sweep.folds import train_other_folds
from tracking.sweep.interrupts import INTERRUPTS
from tracking.sweep.pruning import PruningCallback
from tracking.sweep.space import suggest_config

log = logging.getLogger(__name__)


class Objective:
    """One trial = one ``train()`` in a child run of the study's parent run."""

    def __init__(
        self,
        base: TrainConfig,
        sweep: SweepConfig,
        dataset: Dataset,
        *,
        tracker: Tracker,
        parent_run_id: str,
    ) -> None:
        self.base, self.sweep, self.dataset = base, sweep, dataset
        self.tracker = tracker
        self.parent_run_id = parent_run_id
        self.monitor_error: MonitorError | None = None
        self.trials_run = 0  # by this process (a worker is replaced after its quota)
        self.interrupted: list[int] = []  # trials this process was stopped in (Ctrl-C, SIGTERM)
        self.folds = folds_for(sweep.cv_folds, dataset)  # 0: one split
        _freeze_long_lived()

    def __call__(self, trial: Trial) -> float:
        self.trials_run += 1
        trial.set_user_attr("worker_pid", os.getpid())
        config = suggest_config(trial, self.base, self.sweep)
        validate(config)
        run_id, backup = self._run_for(trial)
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        callback = PruningCallback(trial, config.monitor)
        folds = list(fold_datasets(self.dataset, self.folds, config.seed)) if self.folds else []
        cv: CvScore | None = None
        try:
            with self.tracker.ending(run_id), INTERRUPTS.raising():
                result = train(
                    config,
                    tracker=self.tracker,
                    run_id=run_id,
                    dataset=folds[0] if folds else self.dataset,
                    extra_callbacks=(callback,),
                    register=False,
                    verbose=0,
                    backup=backup,
                )
                tag_pruned(self.tracker, run_id, result, callback)
                if folds and result.stop_reason != "pruned" and not math.isnan(_value(result)):
                    cv = train_other_folds(self.tracker, trial, config, run_id,
                                           _value(result), folds[1:])  # fmt: skip
        except MonitorError as error:  # the same for every trial: stop the study
            self.monitor_error = error
            trial.study.stop()
            raise
        except (KeyboardInterrupt, Terminated) as error:
            self.interrupted.append(trial.number)  # retried by the next invocation
            if isinstance(error, KeyboardInterrupt):
                raise
            # Optuna records FAIL only for Exception/KeyboardInterrupt; else RUNNING forever
            raise KeyboardInterrupt(str(error)) from error
        value = trial_value(trial, result, callback)
        if cv is None:
            return value
        trial.set_user_attr("cv_mean", cv.mean)  # the version tags and the summary read them
        trial.set_user_attr("cv_std", cv.std)
        trial.set_user_attr("cv_values", list(cv.values))
        return cv.mean

    def _run_for(self, trial: Trial) -> tuple[str, Path]:
        run_id, backup = trial_run(self.tracker, trial, self.parent_run_id, self.sweep.backup_dir)
        return run_id, backup or run_backup_dir(run_id, self.sweep.backup_dir)


@functools.cache
def _freeze_long_lived() -> None:
    """Once per process: what lives before the first trial (TensorFlow, MLflow, the dataset)
    lives for the process. Frozen, the collection each trial starts with (keras's
    clear_session) and the one after it (gc_after_trial) walk only the trials' own objects
    (0.4 s less a trial); frozen again later, a test's or benchmark's objects would never go."""
    gc.collect()
    gc.freeze()


def trial_run(
    tracker: Tracker, trial: Trial, parent_run_id: str, backup_dir: str | None
) -> tuple[str, Path | None]:
    """The trial's MLflow run and where its epochs are backed up: a new child of the parent
    (backup None), or, for the retry of a killed trial with a backup, the killed trial's own
    run, reopened, and its backup: on this machine where the run's ``backup_path`` tag says (any
    working directory finds it), else its checkpoint fetched from the run's artifacts into
    ``backup_dir`` (the killed worker's machine may be gone; ``tracking.run.checkpoints``).
    ``backup_dir`` None: no backups (a notebook's study), every trial a new run."""
    study_name = trial.study.study_name
    retry_of = retried_trial(trial)
    tags = {
        T.SWEEP_ROLE: "trial",
        T.OPTUNA_STUDY_NAME: study_name,
        T.OPTUNA_TRIAL_NUMBER: str(trial.number),
    }
    if retry_of is not None:
        tags[T.OPTUNA_RETRY_OF_TRIAL] = str(retry_of)
        killed_run = str(trial.user_attrs.get(RUN_ID_ATTR) or "")  # the killed trial's
        # Its epochs are where its backup_path tag says, whatever this worker's directory, or
        # in its artifacts, whatever this worker's machine.
        backup = find_backup(tracker, killed_run, backup_dir) if killed_run and backup_dir else None
        if backup is not None:
            tracker.reopen_run(killed_run)
            tracker.set_tags(killed_run, tags)
            log.info("trial %d continues trial %d in run %s", trial.number, retry_of,
                     killed_run)  # fmt: skip
            return killed_run, backup
    run_id = tracker.create_run(
        f"{study_name}-trial-{trial.number:03d}", parent_run_id=parent_run_id, tags=tags
    )
    return run_id, None


def tag_pruned(
    tracker: Tracker, run_id: str, result: TrainResult, callback: PruningCallback
) -> None:
    """A pruned trial's run says at which epoch (and step) it was pruned."""
    if result.stop_reason == "pruned":
        step = int(callback.pruned_at_step or 0)
        tracker.set_tags(
            run_id, {T.OPTUNA_PRUNED_AT_EPOCH: step + 1, T.OPTUNA_PRUNED_AT_STEP: step}
        )


def trial_value(trial: Trial, result: TrainResult, callback: PruningCallback) -> float:
    """What the trial learns from its training (user attrs: stop reason, diagnosis, model URI,
    test metrics) and its value, the best ``monitor``; raises TrialPruned for a pruned one."""
    trial.set_user_attr("stop_reason", result.stop_reason)
    if result.diagnosis is not None:  # counted on the parent run (tracking.sweep.summary)
        trial.set_user_attr("diagnosis", result.diagnosis)
    if result.stop_reason == "pruned":
        step = int(callback.pruned_at_step or 0)
        trial.set_user_attr("pruned_at_epoch", step + 1)
        raise optuna.TrialPruned(f"pruned at epoch {step + 1} (step {step})")
    if result.model_uri:
        trial.set_user_attr("model_uri", result.model_uri)
    for key, score in result.test_metrics.items():  # test_loss, test_accuracy | test_mae...
        trial.set_user_attr(key, score)
    return _value(result)


class StateTagger:
    """Optuna callback: the child run learns its final state (COMPLETE, PRUNED or FAIL)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            self.tracker.set_tags(run_id, {T.OPTUNA_STATE: trial.state.name})

    def sync(self, study: optuna.Study, first_number: int) -> None:
        """Tag every finished trial of this invocation (covers ones an interruption skipped)."""
        for trial in study.get_trials(deepcopy=False):
            if trial.number >= first_number and trial.state.is_finished():
                self(study, trial)


def progress_line(study: optuna.Study, trial: FrozenTrial, monitor: str) -> str:
    """``trial 3 PRUNED epochs=12 ... -> pruned at epoch 4 | best val_loss 0.1100 (trial 1)``."""
    params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    if trial.state == TrialState.COMPLETE:
        outcome = f"{monitor} {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED:
        outcome = f"pruned at epoch {trial.user_attrs.get('pruned_at_epoch', '?')}"
    else:
        outcome = trial.state.name.lower()
    try:
        best = study.best_trial
        best_text = f"best {monitor} {best.value:.4f} (trial {best.number})"
    except ValueError:
        best_text = "no complete trial yet"
    return f"trial {trial.number} {trial.state.name}: {params} -> {outcome} | {best_text}"


def _value(result: TrainResult) -> float:
    value = result.best_value
    return float("nan") if value is None or not math.isfinite(value) else float(value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
