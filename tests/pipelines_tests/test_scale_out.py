"""Scale-out as users run it: real worker processes, a real PostgreSQL (a fresh database per
test), a real `mlflow server` on a free loopback port, real signals."""

from __future__ import annotations

import os
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

from tests.browser import free_port, mlflow_server, project_env
from tests.helpers import all_runs, mlflow_run, wait_until
from tracking.config import tags as T

BIN = Path(sys.executable).parent
TINY = [
    "--dataset", "digits", "--hidden-units", "16", "--max-train-samples", "300",
    "--epochs-min", "1", "--epochs-max", "2", "--batch-sizes", "64",
    "--registered-model-name", "digits-mlp", "--study-name", "scale", "--cv-folds", "0",
]  # fmt: skip
FINISHED = ("COMPLETE", "PRUNED")

# Real processes, signals and timings: one at a time (Makefile, `serial`).
pytestmark = pytest.mark.serial


def _sweep(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.sweep", *TINY, *args]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_workers_started_at_once_on_a_fresh_postgres_database(
    tmp_path: Path, postgres_db: Callable[[], str], tracking_server: Callable[..., Any]
) -> None:
    optuna_db, mlflow_db = postgres_db(), postgres_db()
    with tracking_server(mlflow_db) as server:
        env = project_env(server.url)
        command = _sweep("--storage", optuna_db, "--n-trials", "9", "--trials-per-process", "0")
        workers = [
            subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        errors = [w.communicate(timeout=800)[1] for w in workers]
        # Every worker exits 0: none tripped over Optuna's tables, the study or the parent run.
        assert [w.returncode for w in workers] == [0, 0, 0], "\n".join(e[-2000:] for e in errors)
        study = optuna.load_study(study_name="scale", storage=optuna_db)
        states = [t.state.name for t in study.trials]
        assert len(states) == 9 and all(s in FINISHED for s in states), states
        runs = all_runs(client=MlflowClient(server.url))
        parents = [r for r in runs if r.data.tags.get(T.SWEEP_ROLE) == "parent"]
        children = [r for r in runs if r.data.tags.get(T.SWEEP_ROLE) == "trial"]
        assert len(parents) == 1 and len(children) == 9
        assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
        assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_workers_2_through_mlflow_run_recycle_and_use_both_cores(
    tmp_path: Path, tracking_store: str
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    params = {"n_trials": 6, "workers": 2, "trials_per_process": 2, "storage": storage}
    tiny = dict(zip(TINY[::2], TINY[1::2], strict=True))
    params.update({k.removeprefix("--").replace("-", "_"): v for k, v in tiny.items()})
    done = mlflow_run(tmp_path, tracking_store, "-e", "sweep", **params)
    assert done.returncode == 0, done.stderr[-4000:]
    study = optuna.load_study(study_name="scale", storage=storage)
    trials = study.trials
    # Exactly n_trials, all finished, in one parent run (the one `mlflow run` opened).
    assert len(trials) == 6 and all(t.state.name in FINISHED for t in trials)
    runs = all_runs(client=MlflowClient())
    assert len([r for r in runs if r.data.tags.get(T.SWEEP_ROLE) == "parent"]) == 1
    assert [r for r in runs if r.info.status == "RUNNING"] == []
    # Each process ran at most trials_per_process trials: workers were replaced.
    pids = [t.user_attrs["worker_pid"] for t in trials]
    assert len(set(pids)) >= 3 and max(pids.count(p) for p in set(pids)) <= 2
    # Two processes trained at the same time (both cores).
    spans = [(t.datetime_start, t.datetime_complete, t.user_attrs["worker_pid"]) for t in trials]
    assert any(a[2] != b[2] and a[0] < b[1] and b[0] < a[1] for a in spans for b in spans), spans
    # One line per trial names its worker.
    assert "worker 0: trial" in done.stderr and "worker 1: trial" in done.stderr


def test_a_password_in_the_storage_url_is_never_written_or_shown(
    tmp_path: Path, tracking_store: str, postgres_db: Callable[[], str]
) -> None:
    secret = "S3cret-PW"
    storage = postgres_db().replace("postgres@", f"postgres:{secret}@")  # trust auth ignores it
    env = project_env(tracking_store)
    command = _sweep("--storage", storage, "--n-trials", "1")  # supervisor + a worker process
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "postgres:***@" in done.stderr  # the URL is still shown, masked
    assert secret not in done.stdout + done.stderr
    # Nothing written anywhere: the tracking database, the artifacts, any file of the run.
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    # A storage that cannot be opened is named with its password masked.
    dead = storage.replace("127.0.0.1:5432", f"127.0.0.1:{free_port()}")
    done = subprocess.run(
        _sweep("--storage", dead), cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and secret not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: storage='postgresql://")


@pytest.mark.parametrize("module", ["pipelines.train", "pipelines.sweep"])
def test_a_tracking_server_that_is_down_is_refused_in_seconds(tmp_path: Path, module: str) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # a password in it is refused first (test_reach.py)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, "--dataset", "digits"],
        cwd=tmp_path,
        env=project_env(uri),
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and elapsed < 30, (elapsed, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith(f"error: MLFLOW_TRACKING_URI={uri!r}")
    assert "cannot be reached" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_tracking_server_restarted_mid_run_loses_no_epoch(tmp_path: Path) -> None:
    port = free_port()
    backend = f"sqlite:///{tmp_path}/server.db"
    server_env = project_env(backend)
    log = (tmp_path / "server.log").open("wb")

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            mlflow_server(backend, tmp_path / "artifacts")(port), cwd=tmp_path, env=server_env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: _healthy(port), 120)
        return process

    server = start()
    uri = f"http://127.0.0.1:{port}"
    training = subprocess.Popen(
        [sys.executable, "-m", "pipelines.train", "--dataset", "digits", "--epochs", "60",
         "--batch-size", "8", "--hidden-units", "64", "--patience", "100",
         "--registered-model-name", ""],
        cwd=tmp_path, env=project_env(uri), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = MlflowClient(uri)
    try:
        wait_until(lambda: _logged_steps(client) >= 3, 180)
        os.killpg(server.pid, signal.SIGKILL)  # the server dies mid-run...
        server.wait()
        time.sleep(8)
        server = start()  # ...and comes back 8 s later on the same port
        _, stderr = training.communicate(timeout=400)
        assert training.returncode == 0, stderr[-3000:]
        (run,) = all_runs(client=client)
        n = int(run.data.metrics["epochs_trained"])
        assert n == 60 and run.info.status == "FINISHED"
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
            assert sorted(steps) == list(range(n)), key
    finally:
        training.kill()
        os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_workers_through_the_grpc_storage_proxy(
    tmp_path: Path, tracking_store: str, storage_proxy: Callable[..., Any]
) -> None:
    env = project_env(tracking_store)
    with storage_proxy(f"sqlite:///{tmp_path}/optuna.db", env) as grpc:
        command = _sweep("--storage", grpc, "--n-trials", "4", "--trials-per-process", "0")
        workers = [
            subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        errors = [w.communicate(timeout=800)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], "\n".join(e[-2000:] for e in errors)
    study = optuna.load_study(study_name="scale", storage=f"sqlite:///{tmp_path}/optuna.db")
    assert [t.state.name in FINISHED for t in study.trials] == [True] * 4
    runs = all_runs(client=MlflowClient())
    # One parent and one run per trial: the two workers, finishing at about the same time,
    # summarise and promote one after the other (tracking.sweep.proxy_lock), not both at once.
    roles = sorted(r.data.tags.get(T.SWEEP_ROLE, "?") for r in runs)
    assert roles == ["parent"] + ["trial"] * 4, roles
    assert [r for r in runs if r.info.status == "RUNNING"] == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_stops_every_worker_cleanly(tmp_path: Path, tracking_store: str) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    # No pruning, no early stopping: each worker stays in its first, long trial until the signal
    # (on a slow machine the second worker starts many seconds after the first).
    command = _sweep("--storage", storage, "--n-trials", "20", "--workers", "2",
                     "--epochs-min", "500", "--epochs-max", "500", "--patience", "500",
                     "--pruner", "none")  # fmt: skip
    sweep = subprocess.Popen(
        command, cwd=tmp_path, env=project_env(tracking_store), stderr=subprocess.PIPE, text=True
    )

    def running() -> int:
        try:
            study = optuna.load_study(study_name="scale", storage=storage)
        except KeyError:
            return 0
        return len(study.get_trials(states=(optuna.trial.TrialState.RUNNING,)))

    wait_until(lambda: running() == 2, 240)  # both workers are training
    time.sleep(3)
    sweep.send_signal(signal.SIGINT)
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr[-3000:]
    study = optuna.load_study(study_name="scale", storage=storage)
    trials = study.trials
    # The two interrupted trials are FAIL, each queued again (WAITING) with its params, so that
    # running the command again continues them.
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "WAITING", "WAITING"], stderr[-4000:]
    assert {t.system_attrs["failed_trial"] for t in trials[2:]} == {0, 1}
    assert sorted(str(t.params) for t in trials[2:]) == sorted(str(t.params) for t in trials[:2])
    runs = all_runs(client=MlflowClient())
    statuses = sorted((r.data.tags.get(T.SWEEP_ROLE), r.info.status) for r in runs)
    assert statuses == [("parent", "KILLED"), ("trial", "KILLED"), ("trial", "KILLED")]
    assert all(
        r.data.tags.get("stop_reason") == "interrupted"
        for r in runs
        if r.data.tags.get(T.SWEEP_ROLE) == "trial"
    )


def _healthy(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _logged_steps(client: MlflowClient) -> int:
    runs = all_runs(client=client)
    if not runs:
        return 0
    return len(client.get_metric_history(runs[0].info.run_id, "val_loss"))
