"""A worker process that starts when the study already counts ``n_trials`` runs no trial: it
counts once it is ready, not only after its first trial (``MaxTrialsCallback``). A replacement
worker takes seconds to start, while the other workers go on starting trials."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna

from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.study import run_sweep
from tracking.sweep.workers import RECYCLE, WorkerSpec, run_worker


def test_a_worker_started_when_the_study_is_full_runs_no_trial(tmp_path: Path) -> None:
    base = TrainConfig(
        dataset="digits", max_train_samples=100, hidden_units=8, epochs=1,
        registered_model_name="",
    )  # fmt: skip
    storage = f"sqlite:///{tmp_path}/optuna.db"
    sweep = SweepConfig(
        cv_folds="0",
        n_trials=1,
        study_name="cap",
        storage=storage,
        refit=False,
        epochs_min=1,
        epochs_max=1,
    )
    run_sweep(base, sweep, tracker=Tracker(), storage=optuna.storages.RDBStorage(storage))
    study = optuna.load_study(study_name="cap", storage=storage)
    assert len(study.trials) == 1
    parent = str(study.user_attrs["mlflow_parent_run_id"])
    spec = WorkerSpec(dataclasses.asdict(base), dataclasses.asdict(sweep), 1, parent, 2)
    assert run_worker(spec, tracker=Tracker()) == 0
    states = [t.state.name for t in optuna.load_study(study_name="cap", storage=storage).trials]
    assert states == ["COMPLETE"]
    # With room for more, the same worker runs its quota and asks to be replaced.
    more = WorkerSpec(spec.base, {**spec.sweep, "n_trials": 4}, 1, parent, 2)
    assert run_worker(more, tracker=Tracker()) == RECYCLE
    assert len(optuna.load_study(study_name="cap", storage=storage).trials) == 3
