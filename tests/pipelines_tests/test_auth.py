"""A team's tracking server with MLflow's basic-auth app, end to end: a real `mlflow server
--app-name basic-auth` on a loopback port, a non-default admin password set in its auth config,
users with per-experiment and per-registered-model permissions, credentials only in
MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD. The limited user sweeps with two worker
processes through `mlflow run . -e sweep` (the README's recipe; the study behind the gRPC storage
proxy); a reader scores @champion with `python -m pipelines.evaluate`."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.browser import (
    REPO,
    auth_config,
    free_port,
    listening,
    mlflow_server,
    project_env,
    serve,
)
from tests.helpers import wait_until

TRAIN = [
    "--dataset", "digits", "--hidden-units", "16", "--max-train-samples", "300",
    "--epochs", "3", "--batch-size", "32",
]  # fmt: skip
SWEEP = [
    *TRAIN[:6], "--epochs-min", "2", "--epochs-max", "3", "--batch-sizes", "32",
    "--n-trials", "2", "--workers", "1", "--trials-per-process", "2", "--study-name", "team",
    "--cv-folds", "0",
]  # fmt: skip
# The same sweep as `mlflow run . -e sweep` -P's, with the README's two worker processes.
RECIPE = [
    "dataset=digits", "hidden_units=16", "max_train_samples=300", "epochs_min=2",
    "epochs_max=3", "batch_sizes=32", "n_trials=2", "study_name=team", "workers=2",
    "cv_folds=0",
]  # fmt: skip
SCORE = ["--model-uri", "models:/digits-mlp@champion", "--dataset", "digits",
         "--max-train-samples", "300"]  # fmt: skip

# Real processes, signals and timings: one at a time (Makefile, `serial`).
pytestmark = pytest.mark.serial


class Team(NamedTuple):
    url: str
    passwords: dict[str, str]  # user -> password
    backend: Path  # the server's own store, searched for passwords
    artifacts: Path


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """The server with users: admin; ``worker`` (EDIT on the Default experiment and on
    ``digits-mlp``); ``runner`` (EDIT on the experiment only); ``reader`` (the default READ)."""
    from mlflow.server import get_app_client

    passwords = {u: secrets.token_urlsafe(12) for u in ("admin", "worker", "runner", "reader")}
    env = _without_login(project_env(f"sqlite:///{tmp_path}/unused.db"))
    env |= auth_config(tmp_path, passwords["admin"])
    backend, artifacts = tmp_path / "server.db", tmp_path / "artifacts"
    with serve(
        "mlflow-auth-server",
        mlflow_server(f"sqlite:///{backend}", artifacts, "--app-name", "basic-auth"),
        health="/health",
        cwd=tmp_path,
        env=env,
    ) as server:
        os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = passwords["admin"]
        try:
            admin = get_app_client("basic-auth", tracking_uri=server.url)
            for user in ("worker", "runner", "reader"):
                admin.create_user(user, passwords[user])
            admin.grant_user_permission("worker", "experiment", "0", "EDIT")
            admin.grant_user_permission("runner", "experiment", "0", "EDIT")
        finally:
            for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                os.environ.pop(name, None)
        yield Team(server.url, passwords, backend, artifacts)


def _without_login(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith("MLFLOW_TRACKING_")}


def _as(team: Team, user: str | None, password: str | None = None) -> dict[str, str]:
    """The environment of a user of the team (None: no credentials at all)."""
    env = _without_login(project_env(team.url))
    env["MLFLOW_TRACKING_URI"] = env["MLFLOW_REGISTRY_URI"] = team.url
    if user is not None:
        env["MLFLOW_TRACKING_USERNAME"] = user
        env["MLFLOW_TRACKING_PASSWORD"] = password or team.passwords[user]
    return env


def _run(module: str, args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def _admin_client(team: Team, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team.passwords["admin"])
    return MlflowClient(team.url, team.url)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_team_server_with_basic_auth(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _admin_client(team, monkeypatch)
    logs: list[str] = []

    # The admin trains and registers digits-mlp; the worker gets EDIT on it.
    code, out, _ = _run("pipelines.train", TRAIN, _as(team, "admin"), tmp_path)
    logs.append(out)
    assert code == 0, out[-3000:]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team.url)
    from mlflow.server import get_app_client

    get_app_client("basic-auth", tracking_uri=team.url).grant_user_permission(
        "worker", "registered_model", "digits-mlp", "EDIT"
    )

    # Refused in seconds, one line naming the variable to set, exit 2, nothing created.
    runs_before = len(client.search_runs(["0"]))
    refusals = {
        "no credentials": (_as(team, None), "MLFLOW_TRACKING_USERNAME='' is empty", "(401)"),
        "wrong password": (_as(team, "worker", "not-it"), "'worker' was refused", "(401:"),
        "reader": (_as(team, "reader"), "'reader' may not create runs in experiment 0", "(403)"),
        "runner": (_as(team, "runner"), "versions to registered model 'digits-mlp'", "(403)"),
    }
    for case, (env, said, status) in refusals.items():
        for module in ("pipelines.train", "pipelines.sweep"):
            code, out, seconds = _run(module, TRAIN if module.endswith("train") else SWEEP,
                                      env, tmp_path)  # fmt: skip
            logs.append(out)
            lines = out.strip().splitlines()
            assert code == 2 and len(lines) == 1, (case, module, out[-2000:])
            assert said in lines[0] and status in lines[0], (case, lines[0])
            assert "MLFLOW_TRACKING_USERNAME" in lines[0] and "Traceback" not in out
            assert seconds < 60, (case, module, seconds)
            print(f"{case}, {module}: refused in {seconds:.1f} s: {lines[0]}")
    assert len(client.search_runs(["0"])) == runs_before
    assert [v.version for v in client.search_model_versions("name='digits-mlp'")] == ["1"]

    # The worker, a limited user: a training registers version 2; the README's sweep, two
    # worker processes on a study behind the gRPC storage proxy, registers its best trial (3)
    # and promotes it if it wins beyond noise.
    code, out, _ = _run("pipelines.train", TRAIN, _as(team, "worker"), tmp_path)
    logs.append(out)
    assert code == 0, out[-3000:]
    port, proxy_log = free_port(), tmp_path / "proxy.log"
    with proxy_log.open("wb") as proxy_out:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "pipelines.storage_proxy", "--storage",
             f"sqlite:///{tmp_path}/optuna.db", "--port", str(port)],
            cwd=tmp_path, env=_as(team, None), stdout=proxy_out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(lambda: listening(port), 120, "the storage proxy to listen")
        params = [f"-P{p}" for p in (*RECIPE, f"storage=grpc://127.0.0.1:{port}")]
        done = subprocess.run(
            [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "sweep",
             "--env-manager", "local", *params],
            cwd=tmp_path, env=_as(team, "worker"), capture_output=True, text=True,
        )  # fmt: skip
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(30)
    logs += [done.stdout + done.stderr, proxy_log.read_text()]
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "worker 1: trial" in done.stdout + done.stderr  # worker processes swept
    versions = client.search_model_versions("name='digits-mlp'")
    assert sorted(int(v.version) for v in versions) == [1, 2, 3]
    champion = client.get_model_version_by_alias("digits-mlp", "champion")
    assert champion.version in ("1", "2", "3")
    runs = client.search_runs(["0"])
    assert [r.info.run_id for r in runs if r.info.status != "FINISHED"] == []

    # A reader pulls @champion and scores it: Default is read-only to them (one 403 line naming
    # the way out), an experiment of their own takes the score.
    reader = _as(team, "reader")
    code, out, _ = _run("pipelines.evaluate", SCORE, reader, tmp_path)
    logs.append(out)
    assert code == 2 and len(out.strip().splitlines()) == 1, out[-2000:]
    assert "'reader' may not create runs in experiment 0" in out and "(403)" in out
    assert "MLFLOW_EXPERIMENT_NAME" in out
    reader["MLFLOW_EXPERIMENT_NAME"] = "reader-scores"
    code, out, _ = _run("pipelines.evaluate", SCORE, reader, tmp_path)
    logs.append(out)
    assert code == 0, out[-3000:]
    scores = client.get_experiment_by_name("reader-scores")
    (scored,) = client.search_runs([scores.experiment_id])
    assert scored.data.params["model_uri"] == "models:/digits-mlp@champion"
    # The champion itself: the same test split scores as it did when it was trained.
    trained = client.get_run(str(champion.run_id)).data.metrics["test_accuracy"]
    assert scored.data.metrics["test_accuracy"] == pytest.approx(trained, abs=1e-6)

    # No password in any param, tag, log line, artifact, or the server's store.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team.passwords["admin"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    for password in team.passwords.values():
        for run in client.search_runs(experiments):
            assert password not in str(run.data.params) + str(run.data.tags)
        assert not any(password in text for text in logs)
        # ... nor in the study the proxy served.
        for path in [team.backend, tmp_path / "optuna.db", *team.artifacts.rglob("*")]:
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path
