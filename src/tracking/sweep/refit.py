"""Refit the winner: the best trial's configuration retrained on the training and validation
rows together, for the number of epochs its diagnosis recommended, then scored on the test split.

The refit is a child run of the study's parent run (tag ``sweep.role=refit``). With no
validation rows left, it monitors the training ``loss`` and does not stop early: it trains
exactly the recommended epochs, and the tag ``refit.epochs_from`` says where that number came
from (the best trial's ``recommended_epochs``, or its best epoch when the diagnosis gave none).
The study remembers the refit of each best trial (user attr ``refit``), so a rerun of a
finished study does not train it again.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

import numpy as np
from optuna.trial import FixedTrial, FrozenTrial

from tracking.config import tags as T
from tracking.config.tags import RUN_ID_ATTR
from tracking.config.train import TrainConfig, validate
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.run.training import train
from tracking.sweep.config import SweepConfig
from tracking.sweep.opening import StudyRun
from tracking.sweep.space import suggest_config

log = logging.getLogger(__name__)
REFIT_ATTR = "refit"  # study user attr: {"trial": n, "run_id": ..., "model_uri": ...}
EPOCHS_FROM_TAG = "refit.epochs_from"
OF_TRIAL_TAG = "refit.of_trial"


class Refit(NamedTuple):
    trial: int  # the best trial it retrains
    run_id: str
    model_uri: str
    epochs: int
    epochs_from: str


def merged(dataset: Dataset) -> Dataset:
    """The dataset with its validation rows moved into the training rows (test untouched)."""
    return dataset._replace(
        x_train=np.concatenate([dataset.x_train, dataset.x_val]),
        y_train=np.concatenate([dataset.y_train, dataset.y_val]),
        x_val=dataset.x_val[:0],
        y_val=dataset.y_val[:0],
    )


def refit_epochs(tracker: Tracker, best: FrozenTrial) -> tuple[int, str]:
    """How many epochs to retrain, and where that number came from."""
    run_id = str(best.user_attrs[RUN_ID_ATTR])
    recommended = tracker.metric_history(run_id, "recommended_epochs")
    if recommended and recommended[-1].value >= 1:
        epochs = int(recommended[-1].value)
        return epochs, f"recommended_epochs={epochs} of trial {best.number} (run {run_id})"
    best_epoch = tracker.metric_history(run_id, "best_epoch")
    if best_epoch:
        epochs = int(best_epoch[-1].value) + 1
        return epochs, f"best epoch {epochs} of trial {best.number} (run {run_id})"
    epochs = int(best.params.get("epochs", 1))
    return epochs, f"the epochs parameter ({epochs}) of trial {best.number} (run {run_id})"


def refit_config(
    best: FrozenTrial, base: TrainConfig, sweep: SweepConfig, epochs: int
) -> TrainConfig:
    """The best trial's configuration, trained ``epochs`` epochs on the training loss."""
    config = suggest_config(FixedTrial(best.params), base, sweep)
    return dataclasses.replace(
        config, epochs=epochs, monitor="loss", patience=epochs, registered_model_name=""
    )


def refit_best(run: StudyRun, dataset: Dataset) -> Refit | None:
    """Retrain the study's best trial on train+validation (once per best trial) and return
    its run and model; None when the best trial has no run or no validation rows to add."""
    study, tracker = run.study, run.tracker
    best = study.best_trial
    if RUN_ID_ATTR not in best.user_attrs or len(dataset.x_val) == 0:
        return None
    done = study.user_attrs.get(REFIT_ATTR)
    if isinstance(done, dict) and done.get("trial") == best.number and done.get("model_uri"):
        log.info("trial %d was refit already in run %s", best.number, done["run_id"])
        return Refit(best.number, done["run_id"], done["model_uri"], done["epochs"],
                     done["epochs_from"])  # fmt: skip
    epochs, epochs_from = refit_epochs(tracker, best)
    config = refit_config(best, run.base, run.sweep, epochs)
    validate(config)
    run_id = tracker.create_run(
        f"{study.study_name}-refit-trial-{best.number:03d}",
        parent_run_id=run.parent_run_id,
        tags={
            T.SWEEP_ROLE: "refit",
            T.OPTUNA_STUDY_NAME: study.study_name,
            OF_TRIAL_TAG: str(best.number),
            EPOCHS_FROM_TAG: epochs_from,
        },
    )
    log.info("refit of trial %d: %d epochs on train+validation rows (%s)", best.number, epochs,
             epochs_from)  # fmt: skip
    with tracker.ending(run_id):
        result = train(
            config, tracker=tracker, run_id=run_id, dataset=merged(dataset), register=False,
            verbose=0,
        )  # fmt: skip
    if not result.model_uri:
        log.warning("refit of trial %d logged no model (%s)", best.number, result.stop_reason)
        return None
    refit = Refit(best.number, run_id, result.model_uri, epochs, epochs_from)
    study.set_user_attr(REFIT_ATTR, refit._asdict())
    return refit
