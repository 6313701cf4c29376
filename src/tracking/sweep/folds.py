"""A cross-validated trial's other folds (``tracking.sweep.crossval``): each trained in a run
nested under the trial's run, then the trial's value and spread logged on the trial's run.

The first fold is the trial's own run (``tracking.sweep.objective``), pruned per epoch like any
trial; only a trial that finished it gets here.
"""

from __future__ import annotations

import logging
import math

from optuna.trial import Trial

from tracking.config import tags as T
from tracking.config.train import TrainConfig
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.run.training import train
from tracking.sweep.crossval import CvScore

log = logging.getLogger(__name__)
FOLD_TAG = "cv.fold"  # 2..k on a fold's run (the trial's own run is fold 1)


def train_other_folds(
    tracker: Tracker,
    trial: Trial,
    config: TrainConfig,
    run_id: str,
    first: float,
    folds: list[Dataset],
) -> CvScore:
    """Train folds 2..k of ``trial`` (whose run ``run_id`` trained fold 1 to the best value
    ``first``) and log ``cv_<monitor>_mean``, ``_std``, ``cv_folds`` and ``cv_<monitor>`` (one
    point per fold, step = fold - 1) on the trial's run. A diverged fold counts as NaN."""
    study_name = trial.study.study_name
    values = [first]
    for number, fold in enumerate(folds, start=2):
        fold_run = tracker.create_run(
            f"{study_name}-trial-{trial.number:03d}-fold-{number}",
            parent_run_id=run_id,
            tags={
                T.SWEEP_ROLE: "fold",
                T.OPTUNA_STUDY_NAME: study_name,
                T.OPTUNA_TRIAL_NUMBER: str(trial.number),
                FOLD_TAG: str(number),
            },
        )
        with tracker.ending(fold_run):
            result = train(config, tracker=tracker, run_id=fold_run, dataset=fold,
                           register=False, verbose=0)  # fmt: skip
        best = result.best_value
        values.append(float("nan") if best is None or not math.isfinite(best) else float(best))
    cv = CvScore(tuple(values))
    for step, value in enumerate(values):
        tracker.log_metrics(run_id, {f"cv_{config.monitor}": value}, step=step)
    tracker.log_metrics(run_id, cv.metrics(config.monitor))
    log.info("trial %d: %d-fold %s %.4f +- %.4f", trial.number, len(values), config.monitor,
             cv.mean, cv.std)  # fmt: skip
    return cv
