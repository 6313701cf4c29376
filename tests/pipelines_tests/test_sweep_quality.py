"""What the default sweep finds and how sure it is: real Optuna and MLflow SQLite stores, real
Keras training on digits (the default pruner, the base configuration as trial 0, the refit,
promotion beyond noise only)."""

from __future__ import annotations

import dataclasses

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from tests.helpers import all_runs
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.opening import enqueued_base
from tracking.sweep.study import run_sweep

BASE = TrainConfig(dataset="digits", hidden_units="16", max_train_samples=500,
                   registered_model_name="digits-mlp")  # fmt: skip


class NeverPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return False


def _study(name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage="sqlite:///optuna.db")


def test_the_base_configuration_is_brought_into_the_search_space() -> None:
    sweep = SweepConfig(epochs_min=2, epochs_max=8, batch_sizes="32,100,256")
    base = dataclasses.replace(BASE, epochs=20, batch_size=128, learning_rate=1e-3, l2=0.0)
    assert enqueued_base(base, sweep) == {
        "epochs": 8,  # 20 is above the range: its upper bound
        "batch_size": 100,  # the nearest choice to 128
        "learning_rate": 1e-3,
        "dropout": 0.2,
        "l2": 1e-6,  # 0 on a log range: its lower bound
        "reduce_lr_patience": 2,
        "optimizer": "adam",
        "batch_norm": False,
        "hidden_layers": 1,  # hidden_units=16: one layer, below the width's range
        "hidden_width": 64,  # its lower bound
    }
    fixed = SweepConfig(epochs_min=3, epochs_max=3, dropout_min=0.1, dropout_max=0.1)
    assert "epochs" not in enqueued_base(base, fixed) and "dropout" not in enqueued_base(
        base, fixed
    )
    assert {"batch_size", "learning_rate", "l2"} <= set(enqueued_base(base, fixed))


@pytest.mark.slow
def test_a_default_study_finishes_4_trials_first_of_them_the_base_and_draws_importances() -> None:
    # The default pruner and its default settings; short trials (epochs 2 to 4) to stay fast.
    sweep = SweepConfig(n_trials=6, epochs_min=2, epochs_max=4, refit=False, cv_folds="0")
    result = run_sweep(BASE, sweep, show_progress_bar=False, tracker=Tracker())
    study = _study(result.study_name)
    assert study.trials[0].params == enqueued_base(BASE, sweep)  # trial 0 = the defaults
    assert study.trials[0].user_attrs["base_configuration"] is True
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) >= 4 and result.counts["COMPLETE"] == len(complete)
    summary = {
        a.path for a in mlflow.MlflowClient().list_artifacts(result.parent_run_id, "summary")
    }
    assert {"summary/param_importances.png", "summary/parallel_coordinate.png"} <= summary


@pytest.mark.slow
def test_a_second_sweep_within_noise_does_not_move_the_champion_and_says_so() -> None:
    # Two converged models (all of digits, 20 epochs) that differ only a little in dropout.
    base = dataclasses.replace(BASE, hidden_units="64", max_train_samples=0)
    fixed = {"epochs_min": 20, "epochs_max": 20, "batch_sizes": "32", "l2_min": 0.0,
             "l2_max": 0.0, "learning_rate_min": 0.003, "learning_rate_max": 0.003,
             "refit": False, "cv_folds": "0"}  # fmt: skip
    first = run_sweep(
        base, SweepConfig(n_trials=1, study_name="a", dropout_min=0.2, dropout_max=0.2, **fixed),
        show_progress_bar=False, tracker=Tracker(),
    )  # fmt: skip
    assert first.promotion is not None and first.promotion.promoted
    second = run_sweep(
        base, SweepConfig(n_trials=1, study_name="b", dropout_min=0.22, dropout_max=0.22, **fixed),
        show_progress_bar=False, tracker=Tracker(),
    )  # fmt: skip
    p = second.promotion
    assert p is not None and not p.promoted and p.p_value is not None and p.p_value >= 0.05
    assert p.challenger_interval is not None and p.champion_interval is not None
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("digits-mlp", "champion").version) == (
        first.promotion.version
    )
    reason = mlflow.get_run(second.parent_run_id).data.tags["promotion.reason"]
    assert reason == p.reason
    assert reason.startswith("within noise (p >= 0.05): a tie keeps @champion")
    (low_a, high_a), (low_b, high_b) = p.challenger_interval, p.champion_interval
    assert f"{p.challenger_value:.4f} (95 % CI {low_a:.4f}-{high_a:.4f})" in reason
    assert f"@champion {p.champion_value:.4f} (95 % CI {low_b:.4f}-{high_b:.4f})" in reason
    metrics = mlflow.get_run(second.parent_run_id).data.metrics
    assert metrics["promotion.champion_test_accuracy_ci_low"] == pytest.approx(low_b)
    assert metrics["promotion.p_value"] == pytest.approx(p.p_value)


@pytest.mark.slow
def test_the_refit_trains_on_train_and_validation_rows_for_the_recommended_epochs() -> None:
    sweep = SweepConfig(n_trials=2, epochs_min=3, epochs_max=6, refit=True, cv_folds="0")
    result = run_sweep(BASE, sweep, pruner=NeverPrune(), show_progress_bar=False,
                       tracker=Tracker())  # fmt: skip
    study = _study(result.study_name)
    best_run = mlflow.get_run(study.best_trial.user_attrs["mlflow_run_id"])
    (refit,) = all_runs("refit")
    assert refit.info.status == "FINISHED"
    assert refit.data.tags["mlflow.parentRunId"] == result.parent_run_id
    assert refit.data.tags["refit.of_trial"] == str(study.best_trial.number)
    recommended = int(best_run.data.metrics["recommended_epochs"])
    assert refit.data.tags["refit.epochs_from"].startswith(
        f"recommended_epochs={recommended} of trial {study.best_trial.number}"
    )
    params, trial_params = refit.data.params, best_run.data.params
    assert int(params["n_train"]) == int(trial_params["n_train"]) + int(trial_params["n_val"])
    assert int(params["n_val"]) == 0 and params["monitor"] == "loss"
    assert refit.data.metrics["epochs_trained"] == recommended  # no early stopping
    assert "test_accuracy" in refit.data.metrics
    # It competed like any challenger: registered, and the parent says what was decided.
    assert result.refit_promotion is not None
    version = mlflow.MlflowClient().get_model_version("digits-mlp", result.refit_promotion.version)
    assert version.run_id == refit.info.run_id and "promotion" in version.tags
    parent = mlflow.get_run(result.parent_run_id).data.tags
    assert parent["promotion.refit.reason"] == result.refit_promotion.reason
    assert "95 % CI" in parent["promotion.refit.reason"]
    # A rerun of the finished study refreshes the summary: no second refit.
    run_sweep(BASE, sweep, show_progress_bar=False, tracker=Tracker())
    assert len(all_runs("refit")) == 1
