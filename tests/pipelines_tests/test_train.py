"""The training entry point, end to end: real Keras on sklearn's digits, real SQLite tracking."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from pipelines.train import main
from tests.helpers import all_runs, mlflow_run, train_run
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset

FAST = ["--dataset", "digits", "--hidden-units", "32", "--epochs", "3", "--seed", "7"]
FAST_CONFIG = TrainConfig(dataset="digits", hidden_units="32", epochs=3, seed=7)


def _only_run() -> mlflow.entities.Run:
    (run,) = all_runs()
    return run


def _steps(run_id: str, key: str) -> list[int]:
    return [m.step for m in MlflowClient().get_metric_history(run_id, key)]


@pytest.mark.timeout(600)
def test_mlflow_run_end_to_end(repo: Path, tmp_path: Path, tracking_store: str) -> None:
    """`mlflow run . --env-manager local` as a user types it, then everything it promises."""
    done = mlflow_run(
        tmp_path,
        tracking_store,
        dataset="digits",
        epochs=3,
        hidden_units=32,
        seed=3,
        registered_model_name="e2e",
    )
    assert done.returncode == 0, done.stderr[-3000:]

    run = _only_run()
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["stop_reason"] == "completed"
    n = int(run.data.metrics["epochs_trained"])
    assert n == 3
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert _steps(run_id, key) == list(range(n)), key
    for key in ("best_epoch", "best_val_loss", "best_val_accuracy", "test_loss", "test_accuracy"):
        assert key in run.data.metrics
    config = TrainConfig(
        dataset="digits", epochs=3, hidden_units="32", seed=3, registered_model_name="e2e"
    )
    assert run.data.params["learning_rate"] == "0.001"
    assert run.data.params["hidden_units"] == "32"
    dataset = load_dataset(config)
    for fact, value in dataset.facts().items():
        assert run.data.params[fact] == str(value)
    artifacts = {a.path for a in MlflowClient().list_artifacts(run_id)}
    artifacts |= {a.path for a in MlflowClient().list_artifacts(run_id, "plots")}
    assert {
        "history.csv",
        "model_summary.txt",
        "plots/loss_curve.png",
        "plots/accuracy_curve.png",
        "plots/confusion_matrix.png",
    } <= artifacts
    contexts = {d.dataset.name: d.tags[0].value for d in run.inputs.dataset_inputs}
    assert contexts == {
        "digits-train": "training",
        "digits-validation": "validation",
        "digits-test": "testing",
    }

    (version,) = MlflowClient().search_model_versions("name='e2e'")
    assert version.run_id == run_id
    assert float(version.tags["test_accuracy"]) == pytest.approx(run.data.metrics["test_accuracy"])
    model = mlflow.pyfunc.load_model("models:/e2e/1")
    accuracy = float(np.mean(model.predict(dataset.x_test) == dataset.y_test))  # digit labels
    assert accuracy == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)


def test_best_weights_are_logged_model_weights_after_early_stopping() -> None:
    # One rate throughout (no schedule): it overshoots and stops early within 30 epochs.
    config = dataclasses.replace(
        FAST_CONFIG, epochs=30, learning_rate=0.05, patience=2, reduce_lr_patience=0
    )
    result = train_run(config)
    run = mlflow.get_run(result.run_id)
    assert result.stop_reason == "early_stopping" == run.data.tags["stop_reason"]
    val = [m.value for m in MlflowClient().get_metric_history(result.run_id, "val_loss")]
    assert result.best_epoch == int(np.argmin(val)) == run.data.metrics["best_epoch"]
    assert len(val) == result.best_epoch + 1 + config.patience
    # The logged model carries the best epoch's weights: its validation loss is the best one.
    model = mlflow.tensorflow.load_model(result.model_uri)
    dataset = load_dataset(config)
    val_loss = model.evaluate(dataset.x_val, dataset.y_val, verbose=0)[0]
    assert val_loss == pytest.approx(min(val), rel=1e-4)


def test_same_parameters_give_the_same_metrics() -> None:
    config = dataclasses.replace(FAST_CONFIG, epochs=2, registered_model_name="")
    first, second = train_run(config), train_run(config)
    assert first.history["val_loss"] == second.history["val_loss"]
    assert first.test_accuracy == second.test_accuracy
    names = {mlflow.get_run(r.run_id).info.run_name for r in (first, second)}
    assert len(names) == 2  # seeding does not make run names repeat


def test_diverging_run_stops_at_once() -> None:
    argv = ["--epochs", "10", "--optimizer", "sgd", "--learning-rate", "1e9", "--dropout", "0"]
    assert main([*FAST, *argv]) == 0
    run = _only_run()
    assert run.info.status == "FINISHED"
    assert run.data.tags["stop_reason"] == "diverged"
    assert run.data.metrics["epochs_trained"] == 1
    assert not MlflowClient().search_model_versions("name='mnist-mlp'")


class _Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            raise RuntimeError("disk full")


def test_exception_ends_failed_with_reason_and_partial_curves() -> None:
    with pytest.raises(RuntimeError, match="disk full"):
        train_run(dataclasses.replace(FAST_CONFIG, epochs=5), extra_callbacks=[_Boom()])
    run = _only_run()
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: disk full"
    assert _steps(run.info.run_id, "val_loss") == [0, 1]
    paths = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/loss_curve.png" in paths
    assert not MlflowClient().search_model_versions("name='mnist-mlp'")


class _StopAsPruned(keras.callbacks.Callback):
    stop_reason: str | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            self.model.stop_training, self.stop_reason = True, "pruned"


def test_callback_stop_reason_logs_no_model_and_no_test_score() -> None:
    result = train_run(
        dataclasses.replace(FAST_CONFIG, epochs=5), extra_callbacks=[_StopAsPruned()]
    )
    run = mlflow.get_run(result.run_id)
    assert (result.stop_reason, run.data.tags["stop_reason"], run.info.status) == (
        "pruned",
        "pruned",
        "FINISHED",
    )
    assert result.model_uri is None and "test_accuracy" not in run.data.metrics
    assert _steps(result.run_id, "loss") == [0, 1]


def test_csv_dataset_trains(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "quality"})
    frame["quality"] += 5
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert (
        main(
            [
                "--dataset",
                "csv",
                "--data-path",
                str(tmp_path / "wine.csv"),
                "--hidden-units",
                "16",
                "--epochs",
                "3",
                "--batch-size",
                "16",
            ]
        )
        == 0
    )
    run = _only_run()
    assert run.data.params["n_classes"] == "3" and run.data.params["n_features"] == "13"
    assert run.data.params["data_source"].endswith("wine.csv")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signal_mid_training_ends_killed_with_curves(
    signum: signal.Signals, repo: Path, tracking_store: str
) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_store, "PYTHONPATH": str(repo)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.train",
            *FAST,
            "--epochs",
            "1000",
            "--batch-size",
            "8",
            "--patience",
            "1000",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = all_runs()
        if runs and len(_steps(runs[0].info.run_id, "loss")) >= 2:
            break
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.5)
    process.send_signal(signum)
    assert process.wait(timeout=120) == 130
    run = _only_run()
    assert run.info.status == "KILLED"
    assert run.data.tags["stop_reason"] == "interrupted"
    n = int(run.data.metrics["epochs_trained"])
    assert n >= 2 and _steps(run.info.run_id, "loss") == list(range(n))
    paths = {a.path for a in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/loss_curve.png" in paths
    # The epochs it finished are diagnosed too, in the tag and the description.
    assert run.data.tags["diagnosis"] in ("still_improving", "converged", "overfitting")
    assert run.data.tags["mlflow.note.content"]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_mlflow_run_in_an_environment_built_from_conda_yaml(
    repo: Path, tmp_path: Path, tracking_store: str
) -> None:
    """MLflow converts conda.yaml into a fresh environment (first time: installs TensorFlow).
    The README's `--env-manager uv`; `virtualenv` builds the same environment, only slower."""
    done = mlflow_run(
        tmp_path,
        tracking_store,
        env_manager="uv",
        dataset="digits",
        epochs=2,
        hidden_units=16,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = _only_run()
    assert run.info.status == "FINISHED" and run.data.metrics["epochs_trained"] == 2
    (version,) = MlflowClient().search_model_versions("name='digits-mlp'")  # the auto name
    assert version.run_id == run.info.run_id
