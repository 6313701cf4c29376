"""A run's backup mirrored to its artifacts, so that any machine that reaches the tracking
server can continue it (``-P checkpoint_every``; ``tracking.run.mirror`` decides when).

What is sent: one finished epoch of the local backup (``tracking.model.backup``: Keras's weights
and optimizer, the callbacks' state, the dropout seeds, the epoch), packed as one uncompressed tar
with the commit marker (``callbacks.json``) last, into the run's artifact folder ``checkpoint/``.

Only the latest is kept, in two fixed slots, ``checkpoint/slot-0.tar`` and ``slot-1.tar``,
written in turn and each overwritten in place: artifact stores cannot all delete, and writing
the same name twice works in every one (a local folder, a server's proxied
``mlflow-artifacts:`` store). Two slots, because an upload cut short by a kill leaves its file
truncated: the other slot still holds a whole checkpoint, one tick older. A truncated tar, or one
without its marker, is skipped when fetching; the newest whole one wins.

When the run ends other than interrupted, its checkpoint is deleted where the store allows; a
store that refuses (a basic-auth server grants deleting to MANAGE, not EDIT) keeps it, and the
run's ``checkpoint`` tag says so. Standard library only (and the Tracker handed in): a resume
fetches before TensorFlow starts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tracking.config import tags as T

if TYPE_CHECKING:
    from tracking.door.tracker import Tracker

log = logging.getLogger(__name__)
FOLDER = "checkpoint"
SLOTS = ("slot-0.tar", "slot-1.tar")
MARKER = "callbacks.json"  # tracking.model.backup's commit marker, written last
KERAS_METADATA = "training_metadata.json"  # Keras's BackupAndRestore epoch count


class Staged(NamedTuple):
    """A finished epoch's backup, linked aside (``root``) so that the next epoch may replace it
    in the backup while it is uploaded."""

    root: Path
    epoch: int


def committed_epoch(epoch_dir: Path) -> int | None:
    """The finished epochs an ``epoch-<k>`` backup directory holds; None if not committed."""
    try:
        marker = json.loads((epoch_dir / MARKER).read_text())
        keras_epoch = json.loads((epoch_dir / KERAS_METADATA).read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return None
    return int(marker["epoch"]) if keras_epoch == marker["epoch"] else None


def stage(epoch_dir: Path, epoch: int) -> Staged:
    """Hard links to the files of ``epoch_dir`` (copies where links fail), beside it."""
    root = epoch_dir.parent / f"upload-{epoch:06d}"
    shutil.rmtree(root, ignore_errors=True)
    target = root / epoch_dir.name
    target.mkdir(parents=True)
    for file in epoch_dir.iterdir():
        try:
            os.link(file, target / file.name)
        except OSError:
            shutil.copy2(file, target / file.name)
    return Staged(root, epoch)


def discard(staged: Staged) -> None:
    shutil.rmtree(staged.root, ignore_errors=True)


def pack(staged: Staged, slot: str) -> Path:
    """The staged epoch as ``staged.root / slot``, a tar whose last member is the marker."""
    (epoch_dir,) = [p for p in staged.root.iterdir() if p.is_dir()]
    files = sorted(epoch_dir.iterdir(), key=lambda f: (f.name == MARKER, f.name))
    path = staged.root / slot
    with tarfile.open(path, "w") as tar:
        for file in files:
            tar.add(file, arcname=f"{epoch_dir.name}/{file.name}")
    return path


class CheckpointStore:
    """Uploads a run's checkpoints into its two slots in turn (``upload`` runs in the
    uploader's thread) and deletes them when the run is over."""

    def __init__(self, tracker: Tracker, run_id: str) -> None:
        self.tracker, self.run_id = tracker, run_id
        self._slot: int | None = None  # the slot the next upload overwrites

    def upload(self, staged: Staged) -> None:
        if self._slot is None:  # never the slot holding the newest (a resumed run's, too)
            newest = self.tracker.get_run(self.run_id).tags.get(T.CHECKPOINT, "")
            self._slot = 1 if newest == f"{FOLDER}/{SLOTS[0]}" else 0
        slot = SLOTS[self._slot]
        self.tracker.log_file(self.run_id, str(pack(staged, slot)), FOLDER)
        self.tracker.set_tags(
            self.run_id, {T.CHECKPOINT_EPOCH: staged.epoch, T.CHECKPOINT: f"{FOLDER}/{slot}"}
        )
        self._slot = 1 - self._slot  # only after a whole upload: a cut one is redone in place


def delete_checkpoint(tracker: Tracker, run_id: str) -> None:
    """The run is over: delete its checkpoint where the store allows; the tag says which."""
    if not tracker.get_run(run_id).tags.get(T.CHECKPOINT, "").startswith(FOLDER):
        return  # none was uploaded, or it is already gone
    refused = tracker.delete_artifacts(run_id, FOLDER)
    if refused is None:
        tracker.set_tags(run_id, {T.CHECKPOINT: "deleted"})
        return
    log.warning("the checkpoint of run %s is kept: the store refused to delete it", run_id)
    tracker.set_tags(run_id, {T.CHECKPOINT: f"kept: {refused}"})


def fetch_checkpoint(tracker: Tracker, run_id: str, into: Path) -> int | None:
    """The newest whole checkpoint of ``run_id``, unpacked as a backup in ``into`` (as
    ``tracking.model.backup`` reads it); its epoch, or None when the run has none."""
    names = [n for n in tracker.artifact_names(run_id, FOLDER) if n in SLOTS]
    best: tuple[int, Path] | None = None
    with tempfile.TemporaryDirectory(prefix="checkpoint-") as tmp:
        for name in names:
            unpacked = Path(tmp) / name.removesuffix(".tar")
            try:
                local = tracker.download_file(run_id, f"{FOLDER}/{name}", tmp)
                with tarfile.open(local) as tar:
                    tar.extractall(unpacked, filter="data")
            except (tarfile.TarError, OSError, EOFError) as error:  # cut short by a kill
                log.info("checkpoint %s/%s of run %s skipped: %s", FOLDER, name, run_id, error)
                continue
            for epoch_dir in unpacked.glob("epoch-*"):
                epoch = committed_epoch(epoch_dir)
                if epoch is not None and (best is None or epoch > best[0]):
                    best = (epoch, epoch_dir)
        if best is None:
            return None
        into.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(into / best[1].name, ignore_errors=True)
        shutil.move(best[1], into / best[1].name)
    log.info("run %s: the checkpoint of epoch %d fetched from its artifacts", run_id, best[0])
    return best[0]
