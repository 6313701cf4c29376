"""The run ``mlflow run`` opens for a command (``MLFLOW_RUN_ID``, the launcher): a new run of the
command is that run; a resume points at the run it continues from it, for train and sweep alike;
worker processes never see it. Real SQLite tracking store, real Optuna study."""

from __future__ import annotations

import optuna
import pytest

from tracking.config import tags as T
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.parent import find_or_create_parent


def _launch(monkeypatch: pytest.MonkeyPatch, tracker: Tracker) -> str:
    """A run as ``mlflow run`` makes one before it starts the command, named in the env."""
    launcher = tracker.create_run("launcher")
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher)
    return launcher


def test_a_new_run_of_the_command_is_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = Tracker()
    launcher = _launch(monkeypatch, tracker)
    assert tracker.start_run("digits-mlp-16", tags={T.SWEEP_ROLE: "parent"}) == launcher
    run = tracker.get_run(launcher)
    assert run.name == "digits-mlp-16" and run.tags[T.SWEEP_ROLE] == "parent"


def test_a_resumed_training_is_pointed_at_from_the_launcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = Tracker()
    killed = tracker.create_run("killed")
    tracker.end_run(killed, "KILLED")
    launcher = _launch(monkeypatch, tracker)
    tracker.resume_run(
        killed, launcher_name="resume-1", launcher_tags={T.RESUMED_RUN_ID: killed}, note="there"
    )
    # The work goes on in the killed run; the launcher says where.
    assert tracker.run_status(killed) == "RUNNING"
    run = tracker.get_run(launcher)
    assert run.name == "resume-1" and run.tags[T.RESUMED_RUN_ID] == killed
    assert tracker.description(launcher) == "there"
    # Worker processes make runs of their own: they do not inherit the launcher.
    env = tracker.without_launcher({"MLFLOW_RUN_ID": launcher, "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_a_resumed_sweep_points_its_launcher_at_the_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = Tracker()
    study = optuna.create_study(study_name="s", storage=optuna.storages.InMemoryStorage())
    base, sweep = TrainConfig(dataset="digits"), SweepConfig(study_name="s")
    # The first invocation's launcher becomes the study's parent run.
    first = _launch(monkeypatch, tracker)
    assert find_or_create_parent(tracker, study, base, sweep) == first
    tracker.end_run(first, "KILLED")
    # A second invocation, under a new launcher, resumes that parent.
    second = _launch(monkeypatch, tracker)
    assert find_or_create_parent(tracker, study, base, sweep) == first
    assert tracker.run_status(first) == "RUNNING"
    run = tracker.get_run(second)
    assert run.name == "s-resume"
    assert run.tags[T.SWEEP_ROLE] == "launcher" and run.tags[T.SWEEP_PARENT_RUN_ID] == first
    assert first in tracker.description(second)
