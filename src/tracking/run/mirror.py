"""The Keras callback that mirrors the local backup to the run's artifacts on a cadence
(``-P checkpoint_every``), in the background: training never waits for the network.

Listed right after ``tracking.model.backup.TrainingBackup`` (whose ``on_epoch_end`` has then
committed the epoch): at a cadence tick it links the finished epoch's files aside (milliseconds)
and hands them to a ``LatestOnlyUploader``, which sends one at a time, newest first
(``tracking.run.checkpoints`` packs and writes them). ``close`` ends it when training ends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import keras

from tracking.config.cadence import Cadence
from tracking.door.tracker import Tracker
from tracking.run.checkpoints import (
    CheckpointStore,
    Staged,
    committed_epoch,
    delete_checkpoint,
    discard,
    stage,
)
from tracking.run.uploader import LatestOnlyUploader

log = logging.getLogger(__name__)
CLOSE_TIMEOUT = 120.0  # seconds an ending training waits for the upload in progress


class CheckpointMirror(keras.callbacks.Callback):
    """Mirror ``backup``'s newest finished epoch to ``run_id``'s artifacts when ``cadence``
    ticks. ``ticks``: the epochs handed to the uploader."""

    def __init__(self, tracker: Tracker, run_id: str, backup: Path, cadence: Cadence) -> None:
        super().__init__()
        self.tracker, self.run_id = tracker, run_id
        self.backup, self.cadence = Path(backup), cadence
        self.uploader: LatestOnlyUploader[Staged] = LatestOnlyUploader(
            CheckpointStore(tracker, run_id).upload, discard
        )
        self.ticks: list[int] = []
        self._last_tick: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if not self.cadence.due(now, self._last_tick):
            return
        finished = epoch + 1
        dirs = (d for d in self.backup.glob("epoch-*") if committed_epoch(d) == finished)
        epoch_dir = next(dirs, None)
        if epoch_dir is None:  # TrainingBackup listed after this callback: nothing to send
            raise RuntimeError("CheckpointMirror must come after TrainingBackup in the callbacks")
        self._last_tick = now
        self.ticks.append(finished)
        self.uploader.submit(stage(epoch_dir, finished))

    def close(self, *, interrupted: bool) -> None:
        """Training ended. Interrupted (Ctrl-C, SIGTERM): the newest checkpoint is still sent,
        for a resume elsewhere. Otherwise the waiting one is dropped and, once the upload in
        progress is done, the run's checkpoint is deleted where the store allows."""
        done = self.uploader.close(send_waiting=interrupted, timeout=CLOSE_TIMEOUT)
        if not done:
            log.warning("run %s: a checkpoint upload is still running; it is left", self.run_id)
        elif not interrupted:
            try:
                delete_checkpoint(self.tracker, self.run_id)
            except Exception as error:  # never hides how the training itself ended
                log.warning("run %s: its checkpoint was not deleted (%s)", self.run_id, error)
