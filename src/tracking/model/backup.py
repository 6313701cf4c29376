"""Per-epoch backups that let a killed training continue in a new process, losing one epoch at most.

Keras's ``BackupAndRestore`` saves the model and optimizer variables and the epoch count, but not
the state of our callbacks (early stopping's patience, the best weights, the curves so far), nor
the dropout layers' seed state (``model.variables`` minus ``model.weights``), without which the
resumed run draws other dropout masks and ends elsewhere. ``TrainingBackup`` adds both.

Consistency: Keras overwrites ``latest.weights.h5`` and then ``training_metadata.json`` in place,
so a kill between or during the two writes leaves weights of one epoch labelled with another, or
an unreadable file. So every finished epoch k gets its own directory ``epoch-<k>``: Keras's two
files, then ``callbacks.npz`` (arrays), then ``callbacks.json`` written to a temporary name and
renamed (``os.replace``): its presence commits the epoch. Older epochs are deleted only after
that. Restore takes the highest committed epoch; an uncommitted directory is ignored. This covers
a killed process (what the OS has been given survives it), not a power cut: nothing is fsynced.

Order: ``EarlyStopping``, ``BestWeights`` and ``MlflowEpochLogger`` reset their state in
``on_train_begin``, so ``TrainingBackup`` must be the LAST callback, restoring after their reset.
A callback that is listed after it (and so reset what was restored) is caught when the first
resumed epoch begins. Backups are never deleted here: the caller ``delete``s a finished run's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

from tracking.compat import KerasCallbackState, has_keras_state, start_fit_at

MARKER, ARRAYS = "callbacks.json", "callbacks.npz"


class Stateful(Protocol):
    """State as JSON-able values, numpy arrays or lists of arrays (top-level values only)."""

    def get_state(self) -> dict[str, Any]: ...
    def set_state(self, state: dict[str, Any]) -> None: ...


def _state_of(callback: Any) -> Stateful:
    """Keras's EarlyStopping and ReduceLROnPlateau have no get_state: their counters
    (``tracking.compat``); our callbacks have their own."""
    if has_keras_state(callback):
        return KerasCallbackState(callback)
    return callback  # type: ignore[no-any-return]


def backup_dir_for(root: Path, run_id: str) -> Path:
    """One backup per run (or trial run): ``root / run_id``."""
    if not run_id or Path(run_id).name != run_id or run_id in (".", ".."):
        raise ValueError(f"run_id must be a plain name, got {run_id!r}")
    return Path(root) / run_id


def last_epoch(directory: Path) -> int | None:
    """Finished epochs in the backup, i.e. the epoch a resumed fit starts at; None: no backup."""
    found = _latest(Path(directory))
    return None if found is None else found[0]


def delete(directory: Path) -> None:
    """Remove a backup, once its run finished (an interrupted run keeps it to resume)."""
    shutil.rmtree(directory, ignore_errors=True)


class TrainingBackup(keras.callbacks.Callback):
    """Keras BackupAndRestore for the model and optimizer, plus dropout seeds and the state of
    ``stateful`` callbacks, written together at the end of every epoch, restored at the start of
    ``fit()``. Must be the last callback (module docstring). ``restored_epoch``: where this fit
    resumed (None: fresh start).

    ``stateful`` names the callbacks in the backup; a resume must pass the same names.
    """

    def __init__(
        self, directory: Path, stateful: Mapping[str, Stateful | keras.callbacks.Callback]
    ) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.stateful: dict[str, Stateful] = {name: _state_of(c) for name, c in stateful.items()}
        self.restored_epoch: int | None = None
        self._restored: dict[str, str] | None = None  # JSON part restored, checked once

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.restored_epoch, self._restored = None, None
        found = _latest(self.directory)
        if found is None:
            return
        epoch, path, marker = found
        if set(marker["callbacks"]) != set(self.stateful):
            raise ValueError(
                f"backup {path} holds {sorted(marker['callbacks'])}, not {sorted(self.stateful)}"
            )
        self._keras_part(path).on_train_begin()  # weights, optimizer, first epoch
        with np.load(path / ARRAYS) as npz:
            arrays = {k: npz[k] for k in npz.files}
        seeds = _decode(marker["seeds"], arrays)
        variables = _seed_variables(self.model)
        if [s.shape for s in seeds] != [tuple(v.shape) for v in variables]:
            raise ValueError(f"backup {path} was written by a model with other seed layers")
        for variable, value in zip(variables, seeds, strict=True):
            variable.assign(value)
        for name, callback in self.stateful.items():
            callback.set_state(
                {k: _decode(v, arrays) for k, v in marker["callbacks"][name].items()}
            )
        self._restored = _json_parts(self.stateful)
        self.restored_epoch = epoch
        if marker["stop_training"]:  # stopped (early, pruned, diverged) before it was killed
            start_fit_at(self.model, max(epoch, self.params["epochs"]))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        restored, self._restored = self._restored, None
        if restored is None:  # checked once, when the first resumed epoch begins
            return
        now = _json_parts(self.stateful)
        if changed := [name for name, state in now.items() if state != restored[name]]:
            raise RuntimeError(
                f"{changed} reset their state after TrainingBackup restored it: "
                "list TrainingBackup last in the callbacks"
            )

    def _keras_part(self, path: Path) -> keras.callbacks.BackupAndRestore:
        part = keras.callbacks.BackupAndRestore(str(path), delete_checkpoint=False)
        part.set_model(self.model)
        return part

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        finished = epoch + 1
        path = self.directory / f"epoch-{finished:06d}"
        shutil.rmtree(path, ignore_errors=True)  # an uncommitted leftover of a killed run
        path.mkdir(parents=True)
        self._keras_part(path).on_epoch_end(epoch)
        arrays: list[np.ndarray] = []
        seeds = [keras.ops.convert_to_numpy(v) for v in _seed_variables(self.model)]
        marker = {
            "epoch": finished,
            "stop_training": bool(self.model.stop_training),
            "seeds": _encode(seeds, arrays),
            "callbacks": {
                name: {k: _encode(v, arrays) for k, v in callback.get_state().items()}
                for name, callback in self.stateful.items()
            },
        }
        np.savez(path / ARRAYS, *arrays)  # saved as arr_0, arr_1, ...
        tmp = path / f"{MARKER}.tmp"
        tmp.write_text(json.dumps(marker, default=_json_default))
        os.replace(tmp, path / MARKER)  # the commit
        for old in self.directory.glob("epoch-*"):
            if old != path:
                (old / MARKER).unlink(missing_ok=True)  # uncommit first: no half-deleted epoch
                shutil.rmtree(old, ignore_errors=True)


def _latest(directory: Path) -> tuple[int, Path, dict[str, Any]] | None:
    """The highest committed epoch whose Keras metadata agrees with its marker."""
    best: tuple[int, Path, dict[str, Any]] | None = None
    for path in directory.glob("epoch-*"):
        try:
            marker = json.loads((path / MARKER).read_text())
            keras_epoch = json.loads((path / "training_metadata.json").read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            continue  # not committed
        if keras_epoch == marker["epoch"] and (best is None or marker["epoch"] > best[0]):
            best = (marker["epoch"], path, marker)
    return best


def _seed_variables(model: keras.Model) -> list[keras.Variable]:
    """The SeedGenerator states: in ``model.variables`` but not in ``model.weights``."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"__array__": f"arr_{len(arrays) - 1}"}
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        return {"__arrays__": [_encode(v, arrays)["__array__"] for v in value]}
    return value


def _decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(value, dict) and "__array__" in value:
        return arrays[value["__array__"]]
    if isinstance(value, dict) and "__arrays__" in value:
        return [arrays[k] for k in value["__arrays__"]]
    return value


def _json_parts(stateful: Mapping[str, Stateful]) -> dict[str, str]:
    """Each callback's non-array state as JSON text (NaN compares equal as text)."""
    return {
        name: json.dumps(
            {k: _encode(v, []) for k, v in c.get_state().items()}, default=_json_default
        )
        for name, c in stateful.items()
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-able in a callback state: {type(value).__name__}")
