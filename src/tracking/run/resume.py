"""Continue an interrupted training run (``-P resume_run_id=<run>``): the same run, from its last
backed-up epoch, with the configuration it was started with.

A parameter left at its default is taken from the run; one given with another value than the
run's is refused, naming it (resuming with another learning rate would silently mix two
trainings in one curve); ``checkpoint_every`` may change. Checked before TensorFlow starts: the
run must exist in this tracking store, must not be FINISHED, and must have a backup: on this
machine where its tag ``backup_path`` says (an absolute path, so any working directory finds it,
``mlflow run``'s too), else in ``./.backups``; or else a checkpoint in its artifacts, fetched
into ``./.backups`` (``tracking.run.checkpoints``: the machine that trained it may be gone).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from tracking.config import tags as T
from tracking.config.errors import ConfigError
from tracking.config.params import from_params, param_text
from tracking.config.train import TrainConfig
from tracking.run.checkpoints import fetch_checkpoint

if TYPE_CHECKING:
    from tracking.door.tracker import Tracker

DEFAULT_BACKUP_DIR = ".backups"
RESUMABLE = ("RUNNING", "KILLED", "FAILED")
MAY_CHANGE = ("checkpoint_every",)  # how it is kept, not what is trained


def run_backup_dir(run_id: str, root: str | Path = DEFAULT_BACKUP_DIR) -> Path:
    """Where the epochs of ``run_id`` are backed up (``tracking.model.backup``'s layout)."""
    return Path(root) / run_id


def has_backup(directory: Path) -> bool:
    """A committed epoch exists (``tracking.model.backup`` writes ``callbacks.json`` last)."""
    return any(directory.glob("epoch-*/callbacks.json"))


def resume_backup_dir(tracker: Tracker, run_id: str, root: str | Path = DEFAULT_BACKUP_DIR) -> Path:
    """Where ``run_id``'s epochs are backed up on this machine: its ``backup_path`` tag when a
    backup is there, else under ``root`` (relative to the working directory)."""
    recorded = tracker.get_run(run_id).tags.get(T.BACKUP_PATH)
    if recorded and has_backup(Path(recorded)):
        return Path(recorded)
    return run_backup_dir(run_id, root)


def find_backup(
    tracker: Tracker, run_id: str, root: str | Path = DEFAULT_BACKUP_DIR
) -> Path | None:
    """A backup of ``run_id`` to continue from: on this machine (``resume_backup_dir``), else
    the run's checkpoint fetched from its artifacts into ``root``; None when neither exists."""
    directory = resume_backup_dir(tracker, run_id, root)
    if has_backup(directory) or fetch_checkpoint(tracker, run_id, directory) is not None:
        return directory
    return None


def resume_config(tracker: Tracker, run_id: str, given: TrainConfig) -> TrainConfig:
    """The configuration ``run_id`` was trained with; ConfigError if it cannot be resumed."""
    status = tracker.run_status(run_id)
    if status is None:
        raise ConfigError(
            "resume_run_id",
            run_id,
            "is not a run of this tracking store",
            "pass the id of an interrupted run (see the MLflow UI, or mlflow runs list)",
        )
    if status not in RESUMABLE:
        raise ConfigError(
            "resume_run_id", run_id, f"is {status}: nothing to resume", "start a new run instead"
        )
    if find_backup(tracker, run_id) is None:
        raise ConfigError(
            "resume_run_id",
            run_id,
            f"has no backup in {resume_backup_dir(tracker, run_id)} nor a checkpoint in its "
            "artifacts (it finished no epoch, or was trained elsewhere with checkpoint_every=off)",
            "resume it on the machine that trained it, or start a new run",
        )
    logged: TrainConfig = from_params(TrainConfig, tracker.get_run(run_id).params)
    logged = dataclasses.replace(logged, **{k: getattr(given, k) for k in MAY_CHANGE})
    for field in dataclasses.fields(TrainConfig):
        value, before = getattr(given, field.name), getattr(logged, field.name)
        if value != field.default and value != before:
            raise ConfigError(
                field.name,
                value,
                f"differs from the resumed run's {field.name}={param_text(before)}",
                f"leave it out, or pass -P {field.name}={param_text(before)}",
            )
    return logged
