"""Checkpoints in the tracking store: the cadence, the background uploader, and a real training
mirrored into a local file store, interrupted, fetched into another directory and continued.

The kills on another machine, against a real server, are in
``tests/pipelines_tests/test_checkpoint_faults.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import keras
import pytest

from tracking.config.cadence import Cadence, parse_cadence
from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig, validate
from tracking.door.tracker import Tracker
from tracking.model.backup import last_epoch
from tracking.run.checkpoints import FOLDER, SLOTS, fetch_checkpoint
from tracking.run.training import train
from tracking.run.uploader import LatestOnlyUploader

# --- the cadence ------------------------------------------------------------------------------


def test_the_cadence_words_and_seconds() -> None:
    assert parse_cadence("epoch") == Cadence(0.0)
    assert parse_cadence("off").off and not parse_cadence("epoch").off
    assert parse_cadence("60s") == Cadence(60.0) == parse_cadence(" 60 S ")
    assert parse_cadence("0.5s") == Cadence(0.5)


@pytest.mark.parametrize("text", ["60", "0s", "-5s", "every epoch", "", "1e3s", "nans"])
def test_a_bad_cadence_is_refused_naming_the_parameter(text: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate(TrainConfig(dataset="digits", checkpoint_every=text))
    assert error.value.parameter == "checkpoint_every"
    assert "60s" in str(error.value) and "\n" not in str(error.value)


def test_a_tick_comes_at_the_first_epoch_then_once_the_seconds_have_passed() -> None:
    # Every epoch: always due.
    assert Cadence(0.0).due(5.0, None) and Cadence(0.0).due(5.0, 5.0)
    # Every 60 s: the first epoch's end is a tick, then not before 60 s after the last one.
    every_minute = Cadence(60.0)
    assert every_minute.due(5.0, None)
    assert not every_minute.due(64.9, 5.0)
    assert every_minute.due(65.0, 5.0)
    # Off: never.
    assert not Cadence(None).due(5.0, None)


# --- the uploader -----------------------------------------------------------------------------


class Wire:
    """An upload that blocks until released: what a slow network does to the uploader."""

    def __init__(self, fail: tuple[int, ...] = ()) -> None:
        self.sent: list[int] = []
        self.discarded: list[int] = []
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail = fail
        self.running = 0
        self.most_at_once = 0

    def upload(self, item: int) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.started.release()
        assert self.release.acquire(timeout=10)
        self.running -= 1
        if item in self.fail:
            raise OSError("connection reset")
        self.sent.append(item)

    def discard(self, item: int) -> None:
        self.discarded.append(item)


def test_while_one_upload_runs_only_the_newest_waits_and_submit_never_blocks() -> None:
    wire = Wire()
    uploader = LatestOnlyUploader(wire.upload, wire.discard)
    uploader.submit(1)
    assert wire.started.acquire(timeout=10)  # 1 is on the wire, and stays there
    for item in (2, 3, 4):  # returns at once although the wire is busy
        uploader.submit(item)
    # 2 and 3 were replaced by newer ones and never sent; 4 waits.
    assert wire.discarded == [2, 3] and uploader.replaced == 2
    wire.release.release()  # 1 done: 4 goes next
    assert wire.started.acquire(timeout=10)
    wire.release.release()
    assert uploader.close(send_waiting=False, timeout=10)
    assert wire.sent == [1, 4] and wire.most_at_once == 1
    # Every item is discarded once: the staged copies do not pile up.
    assert sorted(wire.discarded) == [1, 2, 3, 4]


@pytest.mark.parametrize(("send_waiting", "sent"), [(True, [1, 2]), (False, [1])])
def test_closing_sends_or_drops_the_waiting_one(send_waiting: bool, sent: list[int]) -> None:
    wire = Wire()
    uploader = LatestOnlyUploader(wire.upload, wire.discard)
    uploader.submit(1)
    assert wire.started.acquire(timeout=10)
    uploader.submit(2)
    for _ in range(2):
        wire.release.release()
    assert uploader.close(send_waiting=send_waiting, timeout=10)
    assert wire.sent == sent
    uploader.submit(3)  # after close: dropped, not sent
    assert wire.sent == sent and 3 in wire.discarded


def test_a_failed_upload_is_counted_and_the_next_one_is_tried() -> None:
    wire = Wire(fail=(1,))
    uploader = LatestOnlyUploader(wire.upload, wire.discard)
    uploader.submit(1)
    assert wire.started.acquire(timeout=10)
    uploader.submit(2)
    for _ in range(2):
        wire.release.release()
    assert uploader.close(send_waiting=True, timeout=10)
    assert (uploader.failed, uploader.uploaded, wire.sent) == (1, 1, [2])


# --- a real training, mirrored into a local file store ----------------------------------------

CONFIG = TrainConfig(
    dataset="digits", hidden_units="32", epochs=8, batch_size=64, patience=100,
    registered_model_name="", system_metrics=False, seed=3,
)  # fmt: skip


class StopAt(keras.callbacks.Callback):
    """Ctrl-C when epoch ``at`` (0-based) begins: epochs 0..at-1 are finished."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.at:
            raise KeyboardInterrupt


def _steps(tracker: Tracker, run_id: str, key: str = "val_loss") -> list[int]:
    return sorted(m.step for m in tracker.metric_history(run_id, key))


def _slot_file(tracker: Tracker, run_id: str, slot: str) -> Path:
    artifact_uri = tracker.client.get_run(run_id).info.artifact_uri
    return Path(unquote(urlparse(artifact_uri).path)) / FOLDER / slot


def test_an_interrupted_training_continues_elsewhere_from_its_checkpoint(tmp_path: Path) -> None:
    tracker = Tracker()
    run_id = tracker.create_run("mirrored")
    here = tmp_path / "machine-a" / run_id
    with pytest.raises(KeyboardInterrupt), tracker.ending(run_id):
        train(CONFIG, tracker=tracker, run_id=run_id, backup=here, register=False, verbose=0,
              extra_callbacks=(StopAt(5),))  # fmt: skip
    run = tracker.get_run(run_id)
    # The newest finished epoch is in the run's artifacts, in one of the two slots.
    assert run.tags["checkpoint_epoch"] == "5"
    assert run.tags["checkpoint"] in {f"{FOLDER}/{s}" for s in SLOTS}
    assert sorted(tracker.artifact_names(run_id, FOLDER)) == list(SLOTS)  # never more

    # The machine is gone: another one fetches the checkpoint as a backup it can continue.
    there = tmp_path / "machine-b" / run_id
    assert fetch_checkpoint(tracker, run_id, there) == 5
    assert last_epoch(there) == 5  # what TrainingBackup restores from
    tracker.reopen_run(run_id)
    with tracker.ending(run_id):
        result = train(CONFIG, tracker=tracker, run_id=run_id, backup=there, register=False,
                       verbose=0)  # fmt: skip
    assert result.stop_reason == "completed"
    run = tracker.get_run(run_id)
    assert run.tags["resumed_from_epoch"] == "5"
    # Every epoch once, in order, in the same run.
    assert _steps(tracker, run_id) == list(range(8))
    # Finished: the checkpoint is deleted (a local store can), the local backup too.
    assert run.tags["checkpoint"] == "deleted"
    assert tracker.artifact_names(run_id, FOLDER) == []
    assert not there.exists()


def test_a_slot_cut_short_by_a_kill_is_skipped_for_the_other_one(tmp_path: Path) -> None:
    tracker = Tracker()
    run_id = tracker.create_run("cut")
    with pytest.raises(KeyboardInterrupt), tracker.ending(run_id):
        train(CONFIG, tracker=tracker, run_id=run_id, backup=tmp_path / "a", register=False,
              verbose=0, extra_callbacks=(StopAt(4),))  # fmt: skip
    newest = tracker.get_run(run_id).tags["checkpoint"].removeprefix(f"{FOLDER}/")
    path = _slot_file(tracker, run_id, newest)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # an upload killed midway
    # The other slot holds an older whole checkpoint: that one is fetched.
    fetched = fetch_checkpoint(tracker, run_id, tmp_path / "b")
    assert fetched is not None and fetched < 4
    assert last_epoch(tmp_path / "b") == fetched


def test_checkpoint_every_off_sends_nothing(tmp_path: Path) -> None:
    tracker = Tracker()
    run_id = tracker.create_run("off")
    off = TrainConfig(**{**CONFIG.as_params(), "checkpoint_every": "off"})
    with pytest.raises(KeyboardInterrupt), tracker.ending(run_id):
        train(off, tracker=tracker, run_id=run_id, backup=tmp_path / "a", register=False,
              verbose=0, extra_callbacks=(StopAt(2),))  # fmt: skip
    assert tracker.artifact_names(run_id, FOLDER) == []
    assert "checkpoint" not in tracker.get_run(run_id).tags
    assert fetch_checkpoint(tracker, run_id, tmp_path / "b") is None
