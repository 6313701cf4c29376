"""The promises of the README on full MNIST, through `mlflow run` (slow: run by CI, `make test`)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
import pytest
from mlflow import MlflowClient

from tests.helpers import mlflow_run
from tracking.config import tags as T
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.run.scoring import score_model_uri

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _mlflow_run(cwd: Path, store: str, *args: str, **params: object) -> None:
    done = mlflow_run(cwd, store, *args, **params)
    assert done.returncode == 0, done.stderr[-4000:]


def test_default_training_on_full_mnist_beats_97_percent(
    repo: Path, tmp_path: Path, tracking_store: str
) -> None:
    _mlflow_run(tmp_path, tracking_store)  # every parameter at its default
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "FINISHED"
    assert run.data.params["n_train"] == "54000" and run.data.params["n_test"] == "10000"
    assert run.data.metrics["test_accuracy"] > 0.97
    (version,) = MlflowClient().search_model_versions("name='mnist-mlp'")
    assert version.run_id == run.info.run_id
    score = score_model_uri("models:/mnist-mlp/1", load_dataset(TrainConfig()))
    assert score.metrics["test_accuracy"] == pytest.approx(
        run.data.metrics["test_accuracy"], abs=1e-6
    )


def test_sweep_on_mnist_prunes_and_promotes_a_champion_that_scores_what_its_run_says(
    repo: Path, tmp_path: Path, tracking_store: str
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    params = {
        "n_trials": 8,
        "max_train_samples": 12000,
        "epochs_min": 3,
        "epochs_max": 8,
        "hidden_units": "128,64",
        # The shape fixed at 128,64 (2 layers from 128 units, stepping down evenly), and the
        # pruner that keeps the best quarter: the budget pruner has tests of its own.
        "hidden_layers_min": 2,
        "hidden_layers_max": 2,
        "hidden_width_min": 128,
        "hidden_width_max": 128,
        "pruner": "percentile",
        "storage": storage,
    }
    _mlflow_run(tmp_path, tracking_store, "-e", "sweep", **params)

    study = optuna.load_study(study_name="mnist-mlp-sweep", storage=storage)
    states = [t.state.name for t in study.trials]
    assert len(states) == 8 and "COMPLETE" in states
    # The percentile pruner stops a trial, once 4 are complete, when it is outside the
    # best quarter at an epoch.
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, states
    assert all(len(t.intermediate_values) < t.params["epochs"] for t in pruned)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    roles = sorted(r.data.tags.get(T.SWEEP_ROLE, "") for r in runs if r not in parents)
    assert len(parents) == 1 and roles == ["trial"] * 8  # no refit by default
    assert all(r.info.status == "FINISHED" for r in runs)
    champion = MlflowClient().get_model_version_by_alias("mnist-mlp", "champion")
    champion_run = mlflow.get_run(champion.run_id)
    assert champion_run.data.tags["optuna.trial_number"] == str(study.best_trial.number)
    config = TrainConfig(max_train_samples=12000)
    score = score_model_uri("models:/mnist-mlp@champion", load_dataset(config))
    assert score.metrics["test_accuracy"] == pytest.approx(
        champion_run.data.metrics["test_accuracy"], abs=1e-6
    )
