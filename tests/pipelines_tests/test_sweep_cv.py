"""Selection beyond noise on small data: cross-validated trials on real digits, the refit of the
best one promoted with its CV score, and what the sweep found said on its parent run and on the
console (real Optuna and MLflow SQLite stores, real Keras training)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest

from tests.helpers import all_runs
from tracking.config import tags as T
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.study import run_sweep

BASE = TrainConfig(dataset="digits", hidden_units="16", max_train_samples=500,
                   registered_model_name="digits-mlp")  # fmt: skip
SPACE = {"epochs_min": 2, "epochs_max": 3}


class NeverPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return False


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _runs(role: str, study: str) -> list[mlflow.entities.Run]:
    """The sweep runs of ``role`` in ``study`` (tests/helpers.py ``all_runs``, one study's)."""
    return [r for r in all_runs(role) if r.data.tags.get(T.OPTUNA_STUDY_NAME) == study]


@pytest.mark.slow
def test_small_data_trials_are_cross_validated_and_the_refit_is_promoted_with_its_score() -> None:
    result = run_sweep(BASE, SweepConfig(n_trials=2, study_name="cv", **SPACE),
                       pruner=NeverPrune(), show_progress_bar=False, tracker=Tracker())  # fmt: skip
    study = optuna.load_study(study_name="cv", storage="sqlite:///optuna.db")
    client = mlflow.MlflowClient()
    folds = _runs("fold", "cv")
    assert len(folds) == 2 * 2  # folds 2 and 3 of each trial, nested under the trial's run
    for trial_run in _runs("trial", "cv"):
        metrics = trial_run.data.metrics
        mine = [f for f in folds if f.data.tags["mlflow.parentRunId"] == trial_run.info.run_id]
        assert sorted(f.data.tags["cv.fold"] for f in mine) == ["2", "3"]
        values = [metrics["best_val_loss"]] + [f.data.metrics["best_val_loss"] for f in mine]
        assert metrics["cv_folds"] == 3
        assert metrics["cv_val_loss_mean"] == pytest.approx(np.mean(values), rel=1e-6)
        assert metrics["cv_val_loss_std"] == pytest.approx(np.std(values, ddof=1), rel=1e-6)
        steps = client.get_metric_history(trial_run.info.run_id, "cv_val_loss")
        assert [p.step for p in steps] == [0, 1, 2]
        # The trial's value, what TPE and the pruner compare, is the mean over the folds.
        trial = study.trials[int(trial_run.data.tags["optuna.trial_number"])]
        assert trial.value == pytest.approx(metrics["cv_val_loss_mean"], rel=1e-6)
        # Folds trained on 2/3 of the 500 rows, validated on the other third.
        assert trial_run.data.params["n_train"] in ("333", "334")
    # Only the refit on every training row challenged @champion, tagged with its CV score.
    assert result.promotion is None and result.refit_promotion is not None
    version = client.get_model_version("digits-mlp", result.refit_promotion.version)
    best = study.best_trial
    assert version.tags["cv_mean"] == repr(best.user_attrs["cv_mean"])
    assert version.tags["cv_std"] == repr(best.user_attrs["cv_std"])
    assert version.tags["cv_folds"] == "3" and version.tags["refit.of_trial"] == str(best.number)
    refit_run = client.get_run(version.run_id)
    assert refit_run.data.tags["sweep.role"] == "refit"
    assert refit_run.data.params["n_train"] == "500"
    assert refit_run.data.metrics["cv_val_loss_mean"] == pytest.approx(best.value, rel=1e-6)
    parent = client.get_run(result.parent_run_id)
    said = parent.data.tags["mlflow.note.content"]
    assert said.startswith(f"Champion: refit of trial {best.number} (val_loss ")
    assert "over 3 folds" in said and "paired over 360 test rows" in said


@pytest.mark.slow
def test_cv_folds_0_keeps_one_split_and_a_pruned_trial_trains_no_other_fold() -> None:
    result = run_sweep(BASE, SweepConfig(n_trials=2, study_name="one", cv_folds="0", **SPACE),
                       pruner=NeverPrune(), show_progress_bar=False, tracker=Tracker())  # fmt: skip
    assert _runs("fold", "one") == []
    for trial_run in _runs("trial", "one"):
        assert "cv_val_loss_mean" not in trial_run.data.metrics
        assert trial_run.data.params["n_train"] == "450"  # the dataset's own split
    study = optuna.load_study(study_name="one", storage="sqlite:///optuna.db")
    run_id = study.best_trial.user_attrs["mlflow_run_id"]
    best_val_loss = mlflow.MlflowClient().get_run(run_id).data.metrics["best_val_loss"]
    assert study.best_value == pytest.approx(best_val_loss, rel=1e-6)
    assert result.promotion is not None and result.refit_promotion is None  # the trial itself

    run_sweep(BASE, SweepConfig(n_trials=2, study_name="pruned", **SPACE),
              pruner=AlwaysPrune(), show_progress_bar=False, tracker=Tracker())  # fmt: skip
    assert _runs("fold", "pruned") == []  # pruned on the first fold: no other fold trained
    pruned = _runs("trial", "pruned")
    assert [r.data.tags["optuna.state"] for r in pruned] == ["PRUNED", "PRUNED"]
    models = mlflow.search_logged_models(experiment_ids=["0"], output_format="list")
    assert not {m.source_run_id for m in models} & {r.info.run_id for r in pruned}


LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING|ERROR) [\w.]+: ")


@pytest.mark.slow
def test_the_console_keeps_progress_bar_and_log_lines_apart_and_says_what_was_found(
    tmp_path: Path, repo: Path
) -> None:
    command = [sys.executable, "-m", "pipelines.sweep", "--dataset", "digits",
               "--hidden-units", "16", "--max-train-samples", "500", "--epochs-min", "2",
               "--epochs-max", "3", "--n-trials", "3", "--storage",
               f"sqlite:///{tmp_path / 'optuna.db'}"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'src'}"}
    env.pop("TQDM_DISABLE", None)
    with (tmp_path / "err.txt").open("w") as err:  # stderr is a file, as under nohup or CI
        done = subprocess.run(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=err, text=True, timeout=900)  # fmt: skip
    errors = (tmp_path / "err.txt").read_text()
    assert done.returncode == 0, errors[-3000:]
    assert "\r" not in errors and "it/s]" not in errors  # no bar redrawn in the file
    for line in errors.splitlines():  # every line one log record (or a traceback's own lines)
        if "INFO" in line or "WARNING" in line:
            assert LOG_LINE.match(line), line
    found = done.stdout[done.stdout.index("Champion: ") :].splitlines()  # printed last
    assert "over 3 folds" in found[0]
    assert any(line.startswith("Test accuracy ") and "95 % CI" in line for line in found)
