"""How the tests run the project the way a user does: `mlflow run <repo> -P k=v ...`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracking.config import tags as T

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

REPO = Path(__file__).resolve().parents[1]
# The training the fault tests kill and resume: 30 short epochs on digits, no early stop, no
# registry, a fixed seed (tests/pipelines_tests/test_faults.py, test_checkpoint_faults.py).
KILLED_TRAINING = [
    "--dataset", "digits", "--hidden-units", "32", "--max-train-samples", "600",
    "--epochs", "30", "--batch-size", "16", "--patience", "100", "--seed", "5",
    "--registered-model-name", "",
]  # fmt: skip


def mlflow_run(
    cwd: Path, store: str, *args: str, env_manager: str = "local", **params: Any
) -> subprocess.CompletedProcess[str]:
    """`mlflow run` on this repo from ``cwd``, tracking into ``store``; ``params`` become -P."""
    command = [sys.executable, "-m", "mlflow", "run", str(REPO), "--env-manager", env_manager]
    command += list(args)
    for key, value in params.items():
        command += ["-P", f"{key}={value}"]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store,
        # `mlflow run --env-manager local` runs `python` from PATH: make it this environment's
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def train_run(config: Any, *, run_name: str | None = None, **kwargs: Any) -> Any:
    """``train()`` in a new run that the caller owns and ends, as ``pipelines.train`` does."""
    from tracking.door.tracker import Tracker
    from tracking.run.training import default_run_name, train

    tracker = Tracker()
    run_id = tracker.create_run(run_name or default_run_name(config))
    with tracker.ending(run_id):
        return train(config, tracker=tracker, run_id=run_id, **kwargs)


def wait_until(condition: Callable[[], bool], timeout: float, what: str = "the condition") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.3)


def role_filter(role: str) -> str:
    """The search filter of a sweep's runs of one role: ``parent``, ``trial``, ``refit``..."""
    return f"tags.`{T.SWEEP_ROLE}` = '{role}'"


def all_runs(role: str | None = None, *, client: MlflowClient | None = None) -> list[Run]:
    """The runs of every experiment of the tracking store (``client``'s, else the process's),
    newest first; only a sweep's runs of ``role`` when given."""
    from mlflow import MlflowClient

    client = client or MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    where = role_filter(role) if role else ""
    return list(client.search_runs(experiments, where, max_results=1000))
