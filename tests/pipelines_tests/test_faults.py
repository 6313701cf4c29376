"""Faults as they happen: real processes killed with real signals, then continued.

A killed sweep worker's trial is retried by another worker in the SAME MLflow run from its last
backed-up epoch (real PostgreSQL storage, real tracking server); a killed training continues with
``--resume-run-id``, from any directory (``mlflow run`` too); without a backup the retry starts
afresh and the old run ends FAILED; a SIGKILLed supervisor leaves no worker behind, and the next
invocation continues its trial.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient

from tests.browser import project_env
from tests.helpers import KILLED_TRAINING, mlflow_run, wait_until

BIN = Path(sys.executable).parent
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
# Short enough for a test, long enough that a live worker on a loaded 2-core machine keeps its
# trial (a heartbeat thread can stall for seconds there; optuna#5470).
FAST_HEARTBEAT = ["--heartbeat-interval", "2", "--grace-period", "20"]
SWEEP = [
    "--dataset", "digits", "--hidden-units", "32", "--max-train-samples", "600",
    "--epochs-min", "40", "--epochs-max", "40", "--batch-sizes", "16", "--pruner", "none",
    "--patience", "100", "--registered-model-name", "", "--study-name", "faults",
    "--trials-per-process", "0", "--n-trials", "2", "--cv-folds", "0", *FAST_HEARTBEAT,
]  # fmt: skip

# Real processes, signals and timings: one at a time (Makefile, `serial`).
pytestmark = pytest.mark.serial


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def _reported(storage: str | optuna.storages.BaseStorage, number: int = 0) -> int:
    """Epochs trial ``number`` has reported to Optuna so far."""
    try:
        study = optuna.load_study(study_name="faults", storage=storage)
        return len(study.trials[number].intermediate_values) if study.trials else 0
    except (KeyError, IndexError):
        return 0


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)


def _kill_worker_mid_trial(
    tmp_path: Path, storage: str, env: dict[str, str], *extra: str
) -> tuple[optuna.trial.FrozenTrial, int]:
    """Start a sweep worker, SIGKILL it once trial 0 has reported some epochs."""
    worker = _start([sys.executable, "-m", "pipelines.sweep", *SWEEP, "--storage", storage,
                     *extra], tmp_path, env)  # fmt: skip
    wait_until(lambda: _reported(storage) >= 5, 300, "trial 0 to report 5 epochs")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    study = optuna.load_study(study_name="faults", storage=storage)
    killed = study.trials[0]
    assert killed.state.name == "RUNNING"  # what a killed process leaves behind
    return killed, len(killed.intermediate_values)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_workers_trial_continues_in_the_same_run_on_another_worker(
    tmp_path: Path, postgres_db: Callable[[], str], tracking_server: Callable[..., Any]
) -> None:
    storage = postgres_db()
    with tracking_server(f"sqlite:///{tmp_path}/server.db") as server:
        env = project_env(server.url)
        killed, done_epochs = _kill_worker_mid_trial(tmp_path, storage, env)
        run_id = killed.user_attrs["mlflow_run_id"]
        assert (tmp_path / ".backups" / run_id).is_dir()  # its finished epochs are backed up
        second = _start([sys.executable, "-m", "pipelines.sweep", *SWEEP, "--storage", storage],
                        tmp_path, env)  # fmt: skip
        _, stderr = second.communicate(timeout=600)
        assert second.returncode == 0, stderr[-4000:]
        client = MlflowClient(server.url)
        study = optuna.load_study(study_name="faults", storage=storage)
        states = [t.state.name for t in study.trials]
        # The killed trial is FAIL, its retry COMPLETE with the same params: n_trials finished.
        assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2, states
        (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
        assert retry.params == killed.params
        # ... in the SAME MLflow run, every epoch exactly once, continuing where it stopped.
        assert retry.user_attrs["mlflow_run_id"] == run_id
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
        assert run.data.tags["optuna.retry_of_trial"] == "0"
        for key in KEYS:
            assert _steps(client, run_id, key) == list(range(40)), key
        # The pruner saw the whole curve: the killed trial's values were carried over.
        assert sorted(retry.intermediate_values) == list(range(40))
        assert done_epochs >= 5
        # No orphans, and the backup is gone once the trial finished.
        assert [
            r.info.run_id for r in client.search_runs(["0"]) if r.info.status == "RUNNING"
        ] == []
        assert not (tmp_path / ".backups" / run_id).exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_without_a_backup_the_retry_starts_afresh_and_the_old_run_is_worker_lost(
    tmp_path: Path, tracking_store: str
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    env = project_env(tracking_store)
    off = ("--checkpoint-every", "off")  # no checkpoint in the run's artifacts either
    killed, _ = _kill_worker_mid_trial(tmp_path, storage, env, *off)
    old_run = killed.user_attrs["mlflow_run_id"]
    shutil.rmtree(tmp_path / ".backups")  # e.g. the retry runs on another machine
    second = _start([sys.executable, "-m", "pipelines.sweep", *SWEEP, "--storage", storage,
                     *off], tmp_path, env)  # fmt: skip
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-4000:]
    study = optuna.load_study(study_name="faults", storage=storage)
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.state.name == "COMPLETE" and retry.params == killed.params
    client = MlflowClient()
    new_run = retry.user_attrs["mlflow_run_id"]
    assert new_run != old_run
    old = client.get_run(old_run)
    assert old.info.status == "FAILED" and old.data.tags["stop_reason"] == "worker_lost"
    assert _steps(client, new_run, "val_loss") == list(range(40))
    assert [r for r in client.search_runs(["0"]) if r.info.status == "RUNNING"] == []


def _gone(pid: int) -> bool:
    """The process ended (a zombie waiting for its new parent to reap it has ended too)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_supervisor_killed_by_sigkill_leaves_no_worker_and_its_trial_continues(
    tmp_path: Path, tracking_store: str
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    env = project_env(tracking_store)
    # trials_per_process > 0: the trial runs in a worker process, under a supervisor.
    command = [sys.executable, "-m", "pipelines.sweep", *SWEEP, "--storage", storage,
               "--n-trials", "1", "--trials-per-process", "5"]  # fmt: skip
    supervisor = _start(command, tmp_path, env)
    wait_until(lambda: _reported(storage) >= 5, 300, "trial 0 to report 5 epochs")
    worker = int(optuna.load_study(study_name="faults", storage=storage).trials[0]
                 .user_attrs["worker_pid"])  # fmt: skip
    assert worker != supervisor.pid and not _gone(worker)
    supervisor.send_signal(signal.SIGKILL)  # no handler runs, nothing is forwarded
    supervisor.wait()
    killed_at = time.monotonic()
    wait_until(lambda: _gone(worker), 30, "the worker to exit after its supervisor died")
    print(f"worker exited {time.monotonic() - killed_at:.1f} s after its supervisor's SIGKILL")
    study = optuna.load_study(study_name="faults", storage=storage)
    killed = study.trials[0]
    # As after Ctrl-C: the trial FAIL and queued again, its run KILLED with its curves so far.
    assert [t.state.name for t in study.trials] == ["FAIL", "WAITING"]
    assert study.trials[1].system_attrs["failed_trial"] == 0
    client = MlflowClient()
    run_id = killed.user_attrs["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["stop_reason"] == "interrupted"
    steps = _steps(client, run_id, "val_loss")  # the epoch in progress may be logged, not reported
    assert steps == list(range(len(steps))) and len(steps) >= len(killed.intermediate_values) >= 5
    assert "plots/loss_curve.png" in {a.path for a in client.list_artifacts(run_id, "plots")}
    # The next invocation continues the killed trial in its run; nothing is left RUNNING.
    second = _start(command, tmp_path, env)
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-4000:]
    study = optuna.load_study(study_name="faults", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert study.trials[1].user_attrs["mlflow_run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    for key in KEYS:
        assert _steps(client, run_id, key) == list(range(40)), key
    assert [r.info.run_id for r in client.search_runs(["0"]) if r.info.status == "RUNNING"] == []


def _train(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pipelines.train", *KILLED_TRAINING, *args]
    return subprocess.Popen(
        command,
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_in_epoch(training: subprocess.Popen[str], epoch: int, signum: int) -> None:
    """Send ``signum`` once Keras prints "Epoch {epoch}/...": the epochs before it are done and
    backed up, the rest to come. (Waiting for the epochs in MLflow came too late on a loaded
    machine: they are logged asynchronously, and a 0.2 s-epoch training had finished.)"""
    assert training.stdout is not None
    for line in training.stdout:
        if line.startswith(f"Epoch {epoch}/"):
            training.send_signal(signum)
            return
    _, stderr = training.communicate()
    pytest.fail(f"the training ended before epoch {epoch}: {stderr[-3000:]}")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_training_resumes_in_the_same_run(
    tmp_path: Path, tracking_store: str, signum: int
) -> None:
    env = project_env(tracking_store)
    client = MlflowClient()
    training = _train(cwd=tmp_path, env=env)

    _signal_in_epoch(training, 7, signum)
    training.wait(60)
    (run,) = client.search_runs(["0"])
    run_id = run.info.run_id
    expected_status = "RUNNING" if signum == signal.SIGKILL else "KILLED"
    assert run.info.status == expected_status
    resumed = _train("--resume-run-id", run_id, cwd=tmp_path, env=env)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-4000:]
    # The same run, finished, every epoch once, test metrics of the best weights logged.
    (run,) = client.search_runs(["0"])
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    for key in KEYS:
        assert _steps(client, run_id, key) == list(range(30)), key
    assert "test_accuracy" in run.data.metrics
    assert not (tmp_path / ".backups" / run_id).exists()
    # Same seed, uninterrupted: the same result (dropout seeds are backed up too).
    whole = _train(cwd=tmp_path, env=env)
    _, stderr = whole.communicate(timeout=600)
    assert whole.returncode == 0, stderr[-3000:]
    (other,) = [r for r in client.search_runs(["0"]) if r.info.run_id != run_id]
    for key in ("best_val_loss", "test_accuracy", "best_epoch"):
        assert run.data.metrics[key] == pytest.approx(other.data.metrics[key], abs=1e-4), key


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_training_killed_in_one_directory_resumes_through_mlflow_run(
    tmp_path: Path, tracking_store: str
) -> None:
    env = project_env(tracking_store)
    client = MlflowClient()
    somewhere = tmp_path / "somewhere"  # not the project directory `mlflow run` runs in
    somewhere.mkdir()
    training = _train(cwd=somewhere, env=env)

    _signal_in_epoch(training, 7, signal.SIGKILL)
    training.wait(60)
    (run,) = client.search_runs(["0"])
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"  # what SIGKILL leaves
    # The run says where its backups are, as an absolute path.
    backup = Path(run.data.tags["backup_path"])
    assert backup == (somewhere / ".backups" / run_id).resolve() and backup.is_dir()
    done = mlflow_run(tmp_path, tracking_store, resume_run_id=run_id)
    assert done.returncode == 0, done.stderr[-4000:]
    # The same run continued to the end, every epoch once; the backup is gone.
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    for key in KEYS:
        assert _steps(client, run_id, key) == list(range(30)), key
    assert not backup.exists()
    (launcher,) = [r for r in client.search_runs(["0"]) if r.info.run_id != run_id]
    assert launcher.data.tags["resumed_run_id"] == run_id
    assert launcher.info.status == "FINISHED"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_worker_killed_through_the_grpc_proxy_is_retried_in_the_same_run(
    tmp_path: Path, tracking_store: str, postgres_db: Callable[[], str], storage_proxy: Any
) -> None:
    database = postgres_db()
    env = project_env(tracking_store)
    with storage_proxy(database, env) as grpc:  # listening: its tables are created
        command = [sys.executable, "-m", "pipelines.sweep", *SWEEP, "--storage", grpc]
        reader = optuna.storages.RDBStorage(database)  # one connection pool for every look
        first = _start(command, tmp_path, env)
        wait_until(lambda: _reported(reader) >= 5, 300, "trial 0 to report 5 epochs")
        # The other worker, on the same proxy, runs in another directory: it finds the killed
        # trial's backups where the run's backup_path tag says, not in its own ./.backups.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        second = _start(command, elsewhere, env)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = optuna.load_study(study_name="faults", storage=reader).trials[0]
        assert killed.state.name == "RUNNING"  # what a killed process leaves behind
        _, stderr = second.communicate(timeout=600)
        assert second.returncode == 0, stderr[-4000:]
    study = optuna.load_study(study_name="faults", storage=database)
    states = [t.state.name for t in study.trials]
    # Failed through the proxy's heartbeats, retried with the same params: n_trials finished.
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2, states
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    assert retry.params == killed.params
    run_id = killed.user_attrs["mlflow_run_id"]
    assert retry.user_attrs["mlflow_run_id"] == run_id  # continued in the same run
    client = MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["optuna.retry_of_trial"] == "0"
    assert Path(run.data.tags["backup_path"]) == (tmp_path / ".backups" / run_id).resolve()
    assert not (tmp_path / ".backups" / run_id).exists()  # deleted where it was, once finished
    for key in KEYS:
        assert _steps(client, run_id, key) == list(range(40)), key
    assert [r.info.run_id for r in client.search_runs(["0"]) if r.info.status == "RUNNING"] == []
