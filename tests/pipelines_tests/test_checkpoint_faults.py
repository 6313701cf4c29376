"""A lost machine loses nothing: a training or a sweep worker is SIGKILLed with its whole process
tree, its machine's backups are deleted, and a process in another directory with another HOME
(another machine, as far as the project can tell) continues it in the same run from the
checkpoint mirrored to the run's artifacts on a real ``mlflow server`` with a proxied artifact
store (``--artifacts-destination``; behind ``--app-name basic-auth`` for the sweep).

"Trained twice": the epochs the killed process had finished beyond the checkpoint it left;
with ``checkpoint_every=epoch`` (the default) at most one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import optuna
import pytest
from mlflow import MlflowClient

from tests.browser import auth_config, mlflow_server, project_env, serve
from tests.helpers import KILLED_TRAINING, wait_until

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
SWEEP = [
    "--dataset", "digits", "--hidden-units", "32", "--max-train-samples", "600",
    "--epochs-min", "40", "--epochs-max", "40", "--batch-sizes", "16", "--pruner", "none",
    "--patience", "100", "--registered-model-name", "", "--study-name", "lost",
    "--trials-per-process", "0", "--n-trials", "2",
    "--heartbeat-interval", "2", "--grace-period", "20", "--cv-folds", "0",
]  # fmt: skip

# Real processes, signals and timings: one at a time (Makefile, `serial`).
pytestmark = [pytest.mark.slow, pytest.mark.serial]


class Machine(NamedTuple):
    """A working directory and a HOME of their own: nothing of another machine's is there."""

    cwd: Path
    env: dict[str, str]


def _machine(root: Path, name: str, env: dict[str, str]) -> Machine:
    cwd, home = root / name, root / f"home-{name}"
    cwd.mkdir()
    home.mkdir()
    return Machine(cwd, {**env, "HOME": str(home), "PYTHONUNBUFFERED": "1"})


def _start(module: str, args: list[str], machine: Machine) -> subprocess.Popen[str]:
    """Its own process group, so that the whole tree can be killed at once."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=machine.cwd,
        env=machine.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _kill_tree(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # the process and everything it started
    process.wait(60)


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def _reported(storage: str) -> int:
    try:
        study = optuna.load_study(study_name="lost", storage=storage)
        return len(study.trials[0].intermediate_values) if study.trials else 0
    except (KeyError, IndexError):
        return 0


def _checkpointed(artifacts: Path, run_id: str) -> int:
    """The newest epoch whole in the server's store (``checkpoint/slot-*.tar``, the marker last):
    the run's ``checkpoint_epoch`` tag may lag it by the upload the kill cut off."""
    epochs = [0]
    for slot in artifacts.rglob(f"{run_id}/artifacts/checkpoint/slot-*.tar"):
        try:
            with tarfile.open(slot) as tar:
                for member in tar.getmembers():
                    if member.name.endswith("/callbacks.json"):
                        epochs.append(json.load(tar.extractfile(member))["epoch"])  # type: ignore[arg-type]
        except (tarfile.TarError, OSError, ValueError):
            continue  # cut short by the kill
    return max(epochs)


@pytest.fixture
def team_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``mlflow server --app-name basic-auth`` with a proxied artifact store; a user ``worker``
    with EDIT on the Default experiment. Yields its URL and the worker's environment."""
    from mlflow.server import get_app_client

    admin, worker = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    env = {
        k: v
        for k, v in project_env(f"sqlite:///{tmp_path}/unused.db").items()
        if not k.startswith("MLFLOW_TRACKING_")
    }
    server_env = {**env, **auth_config(tmp_path, admin)}
    command = mlflow_server(
        f"sqlite:///{tmp_path}/server.db", tmp_path / "artifacts", "--app-name", "basic-auth"
    )
    with serve("mlflow-auth-server", command, health="/health", cwd=tmp_path, env=server_env) as s:
        os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = admin
        try:
            app = get_app_client("basic-auth", tracking_uri=s.url)
            app.create_user("worker", worker)
            app.grant_user_permission("worker", "experiment", "0", "EDIT")
            yield (
                s.url,
                {
                    **env,
                    "MLFLOW_TRACKING_URI": s.url,
                    "MLFLOW_REGISTRY_URI": s.url,
                    "MLFLOW_TRACKING_USERNAME": "worker",
                    "MLFLOW_TRACKING_PASSWORD": worker,
                },
            )
        finally:  # the admin's credentials stay in this process's environment until here
            for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                os.environ.pop(name, None)


@pytest.mark.timeout(900)
def test_a_sweep_workers_trial_continues_on_another_machine_from_its_checkpoint(
    tmp_path: Path, team_server: tuple[str, dict[str, str]], postgres_db: Callable[[], str]
) -> None:
    url, env = team_server
    storage = postgres_db()
    first, second = _machine(tmp_path, "a", env), _machine(tmp_path, "b", env)
    worker = _start("pipelines.sweep", [*SWEEP, "--storage", storage], first)
    wait_until(lambda: _reported(storage) >= 5, 300, "trial 0 to report 5 epochs")
    _kill_tree(worker)
    killed = optuna.load_study(study_name="lost", storage=storage).trials[0]
    assert killed.state.name == "RUNNING"  # what a killed process leaves behind
    run_id = killed.user_attrs["mlflow_run_id"]
    client = MlflowClient(url)  # the admin's credentials (the fixture), to read everything
    checkpointed = _checkpointed(tmp_path / "artifacts", run_id)
    assert int(client.get_run(run_id).data.tags["checkpoint_epoch"]) <= checkpointed
    finished = max(len(killed.intermediate_values), len(_steps(client, run_id, "val_loss")))
    # The machine is gone, and its backups with it.
    shutil.rmtree(first.cwd / ".backups")

    retry_worker = _start("pipelines.sweep", [*SWEEP, "--storage", storage], second)
    _, stderr = retry_worker.communicate(timeout=600)
    assert retry_worker.returncode == 0, stderr[-4000:]
    study = optuna.load_study(study_name="lost", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 2, states
    (retry,) = [t for t in study.trials if t.system_attrs.get("failed_trial") == 0]
    # The same trial, in the SAME run, from the epoch its checkpoint held.
    assert retry.params == killed.params and retry.user_attrs["mlflow_run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
    assert run.data.tags["resumed_from_epoch"] == str(checkpointed)
    assert 1 <= checkpointed and finished - checkpointed <= 1, (finished, checkpointed)
    # Every epoch logged once, steps contiguous.
    for key in KEYS:
        assert _steps(client, run_id, key) == list(range(40)), key
    # Its backup on the new machine is gone once finished; the worker (EDIT, not MANAGE) may
    # not delete artifacts on this server, so the run says its checkpoint is kept.
    assert Path(run.data.tags["backup_path"]) == (second.cwd / ".backups" / run_id).resolve()
    assert not (second.cwd / ".backups" / run_id).exists()
    assert run.data.tags["checkpoint"].startswith("kept: "), run.data.tags["checkpoint"]
    assert [r for r in client.search_runs(["0"]) if r.info.status == "RUNNING"] == []


def _finished_before_kill(training: subprocess.Popen[str], epoch: int) -> int:
    """Kill the whole tree once Keras prints "Epoch {epoch}/...": epoch - 1 are finished."""
    assert training.stdout is not None
    for line in training.stdout:
        if line.startswith(f"Epoch {epoch}/"):
            _kill_tree(training)
            return epoch - 1
    _, stderr = training.communicate()
    pytest.fail(f"the training ended before epoch {epoch}: {stderr[-3000:]}")


@pytest.mark.timeout(900)
def test_a_training_resumes_on_another_machine_from_its_checkpoint(tmp_path: Path) -> None:
    command = mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path / "artifacts")
    env = project_env(f"sqlite:///{tmp_path}/unused.db")
    with serve("mlflow-server", command, health="/health", cwd=tmp_path, env=env) as server:
        env = project_env(server.url)
        first, second = _machine(tmp_path, "a", env), _machine(tmp_path, "b", env)
        finished = _finished_before_kill(_start("pipelines.train", KILLED_TRAINING, first), 7)
        client = MlflowClient(server.url)
        (run,) = client.search_runs(["0"])
        run_id = run.info.run_id
        assert run.info.status == "RUNNING"  # what SIGKILL leaves
        checkpointed = _checkpointed(tmp_path / "artifacts", run_id)
        assert int(run.data.tags["checkpoint_epoch"]) <= checkpointed
        shutil.rmtree(first.cwd / ".backups")  # the machine is gone

        resumed = _start("pipelines.train", [*KILLED_TRAINING, "--resume-run-id", run_id], second)
        stdout, stderr = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, stderr[-4000:]
        # Keras trained from the checkpointed epoch on: at most one epoch trained twice.
        epochs = [int(line.split()[1].split("/")[0]) for line in stdout.splitlines()
                  if line.startswith("Epoch ")]  # fmt: skip
        assert epochs == list(range(checkpointed + 1, 31))
        assert 1 <= checkpointed and finished - checkpointed <= 1, (finished, checkpointed)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.data.tags["stop_reason"] == "completed"
        assert run.data.tags["resumed_from_epoch"] == str(checkpointed)
        for key in KEYS:
            assert _steps(client, run_id, key) == list(range(30)), key
        assert "test_accuracy" in run.data.metrics
        # Finished: the checkpoint is deleted from the server's store, the new backup too.
        assert run.data.tags["checkpoint"] == "deleted"
        assert client.list_artifacts(run_id, "checkpoint") == []
        assert not list((tmp_path / "artifacts").rglob("slot-*.tar"))
        assert not (second.cwd / ".backups" / run_id).exists()
