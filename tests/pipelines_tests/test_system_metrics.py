"""System metrics and device params, as a user sees them on a run's page: a training run, a
sweep's trial and its parent (real Keras on digits, real SQLite stores, MLflow's own sampler)."""

from __future__ import annotations

import os

import keras
import pytest
import tensorflow as tf
from mlflow import MlflowClient

from pipelines import sweep, train
from tests.helpers import all_runs
from tracking.model.devices import cpu_model

TINY = ["--dataset", "digits", "--hidden-units", "16", "--max-train-samples", "300"]
# Sampled every 0.2 s: a run of a few seconds has several samples.
OFTEN = ["--system-metrics-interval", "0.2"]
SYSTEM = ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes")


def _system_metrics(run_id: str) -> dict[str, list[float]]:
    client = MlflowClient()
    run = client.get_run(run_id)
    return {
        key: [m.value for m in client.get_metric_history(run_id, key)]
        for key in run.data.metrics
        if key.startswith("system/")
    }


def test_a_training_run_shows_the_machine_and_the_devices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert train.main([*TINY, "--epochs", "2", *OFTEN, "--registered-model-name", ""]) == 0
    (run,) = all_runs()
    sampled = _system_metrics(run.info.run_id)
    # MLflow's CPU and memory metrics, as its UI charts them, with real values.
    for key in SYSTEM:
        assert sampled.get(key), f"no {key} in {sorted(sampled)}"
    assert all(0 <= v <= 100 for v in sampled["system/cpu_utilization_percentage"])
    assert min(sampled["system/system_memory_usage_megabytes"]) > 10
    # Disk and network come with them; no GPU here, so no GPU metric.
    assert any(k.startswith("system/disk_") for k in sampled)
    assert not any(k.startswith("system/gpu_") for k in sampled)
    # The devices that trained it.
    params = run.data.params
    assert params["device.cpu"] == cpu_model() != ""
    assert params["device.cpu_count"] == str(os.cpu_count())
    assert params["device.gpus"] == "none"
    assert params["tensorflow_version"] == tf.__version__
    assert params["keras_version"] == keras.__version__
    assert (params["system_metrics"], params["system_metrics_interval"]) == ("true", "0.2")


def test_system_metrics_off_logs_none(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*TINY, "--epochs", "1", *OFTEN, "--system-metrics", "false"]
    assert train.main([*argv, "--registered-model-name", ""]) == 0
    (run,) = all_runs()
    assert _system_metrics(run.info.run_id) == {}
    assert run.info.status == "FINISHED" and run.data.params["device.gpus"] == "none"


def test_a_sweep_trial_and_its_parent_show_the_machine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # sweep.main sets it in this process (worker 0's GPU): the test restores it as it was, unset
    # included (delenv of an unset variable would record nothing to restore).
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    argv = [
        *TINY, *OFTEN, "--epochs-min", "2", "--epochs-max", "2", "--n-trials", "1",
        "--refit", "false", "--registered-model-name", "", "--workers", "1",
        "--trials-per-process", "0", "--gpus", "1",
    ]  # fmt: skip
    assert sweep.main(argv) == 0
    (trial,) = all_runs("trial")
    (parent,) = all_runs("parent")
    for run in (trial, parent):
        sampled = _system_metrics(run.info.run_id)
        assert all(sampled.get(key) for key in SYSTEM), (run.data.tags, sorted(sampled))
    # The one process is worker 0: it took the first GPU listed, and its trial says so.
    assert trial.data.params["device.cuda_visible_devices"] == "1"
    assert trial.data.params["device.cpu"] == cpu_model()


def test_a_bad_gpu_list_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep.main([*TINY, "--gpus", "0,first"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gpus='0,first'" in err and "-P gpus=0,1" in err, err
    assert all_runs() == []
