"""What ``-P resume_run_id`` accepts, checked before TensorFlow starts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.run.resume import resume_backup_dir, resume_config, run_backup_dir

LOGGED = TrainConfig(dataset="digits", epochs=30, learning_rate=0.01, batch_norm=True)


def _interrupted_run(tracker: Tracker, status: str = "KILLED", backup: bool = True) -> str:
    run_id = tracker.create_run("interrupted")
    tracker.log_params(run_id, LOGGED.as_params())
    tracker.end_run(run_id, status)
    if backup:  # what tracking.model.backup commits for a finished epoch
        epoch = run_backup_dir(run_id) / "epoch-3"
        epoch.mkdir(parents=True)
        (epoch / "callbacks.json").write_text("{}")
    return run_id


def test_defaults_are_taken_from_the_run_and_equal_values_accepted(tmp_path: Path) -> None:
    tracker = Tracker()
    run_id = _interrupted_run(tracker)
    # Parameters left at their defaults come from the run, with their types.
    assert resume_config(tracker, run_id, TrainConfig()) == LOGGED
    # Repeating the run's own value is fine.
    assert resume_config(tracker, run_id, TrainConfig(learning_rate=0.01)) == LOGGED


def test_a_differing_parameter_is_named_with_the_runs_value() -> None:
    tracker = Tracker()
    run_id = _interrupted_run(tracker)
    with pytest.raises(ConfigError) as error:
        resume_config(tracker, run_id, dataclasses.replace(TrainConfig(), learning_rate=0.1))
    assert error.value.parameter == "learning_rate"
    assert "learning_rate=0.01" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("status", "backup", "problem"),
    [("FINISHED", True, "nothing to resume"), ("FAILED", False, "no backup")],
)
def test_finished_runs_and_runs_without_backup_are_refused(
    status: str, backup: bool, problem: str
) -> None:
    tracker = Tracker()
    run_id = _interrupted_run(tracker, status, backup)
    with pytest.raises(ConfigError, match=problem) as error:
        resume_config(tracker, run_id, TrainConfig())
    assert error.value.parameter == "resume_run_id"


def test_an_unknown_run_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a run of this tracking store"):
        resume_config(Tracker(), "0" * 32, TrainConfig())


def test_the_backup_is_found_where_the_run_says_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = Tracker()
    run_id = _interrupted_run(tracker)
    trained_in = (tmp_path / ".backups" / run_id).resolve()
    tracker.set_tags(run_id, {"backup_path": str(trained_in)})  # as training.train records it
    elsewhere = tmp_path / "project"  # e.g. the directory `mlflow run` runs the command in
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # The tag is followed, not ./.backups of the new working directory.
    assert resume_backup_dir(tracker, run_id) == trained_in
    assert resume_config(tracker, run_id, TrainConfig()) == LOGGED


def test_without_a_local_backup_the_checkpoint_in_the_runs_artifacts_is_fetched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import tarfile

    tracker = Tracker()
    run_id = _interrupted_run(tracker, backup=False)
    # A checkpoint as tracking.run.checkpoints packs one: epoch 4, Keras's metadata agreeing.
    epoch = tmp_path / "packed" / "epoch-000004"
    epoch.mkdir(parents=True)
    (epoch / "training_metadata.json").write_text(json.dumps({"epoch": 4}))
    (epoch / "callbacks.json").write_text(json.dumps({"epoch": 4}))
    with tarfile.open(tmp_path / "slot-0.tar", "w") as tar:
        for name in ("training_metadata.json", "callbacks.json"):
            tar.add(epoch / name, arcname=f"epoch-000004/{name}")
    tracker.log_file(run_id, str(tmp_path / "slot-0.tar"), "checkpoint")
    tracker.set_tags(run_id, {"backup_path": "/gone/machine/.backups/" + run_id})
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Accepted, and ./.backups now holds the checkpoint where training restores from;
    # checkpoint_every is the one parameter a resume may change.
    given = dataclasses.replace(TrainConfig(), checkpoint_every="600s")
    assert resume_config(tracker, run_id, given) == dataclasses.replace(
        LOGGED, checkpoint_every="600s"
    )
    assert resume_backup_dir(tracker, run_id) == run_backup_dir(run_id)
    assert (elsewhere / ".backups" / run_id / "epoch-000004" / "callbacks.json").is_file()
