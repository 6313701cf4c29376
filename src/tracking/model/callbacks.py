"""Keras callbacks: per-epoch MLflow logging, best weights by value, divergence detection.

Each keeps small state, resets it in ``on_train_begin`` and treats ``logs`` as optional, like
Keras's own callbacks. Unlike Keras's EarlyStopping, a missing monitored key is an error at the
first epoch: a warning would silently disable best-weight selection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import keras
import numpy as np

from tracking.config.errors import MonitorError
from tracking.config.tags import StopReason


class EpochSink(Protocol):
    """Where ``MlflowEpochLogger`` writes: ``tracking.door.tracker.Tracker`` is one (its
    ``log_epoch`` is asynchronous, waited for when the run ends)."""

    def log_epoch(self, run_id: str, metrics: Mapping[str, float], step: int) -> None: ...


@runtime_checkable
class StopsTraining(Protocol):
    """A callback that may end training for its own reason (e.g. the sweep's pruning).

    It sets ``model.stop_training`` and ``stop_reason``; ``tracking.run.training.train`` then tags
    the run with that reason, scores nothing on the test split and logs no model.
    """

    stop_reason: StopReason | None


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def current_learning_rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class MlflowEpochLogger(keras.callbacks.Callback):
    """Logs every epoch's Keras metrics and the learning rate at step = Keras's epoch index.

    Args:
        tracker: where to write (an ``EpochSink``, e.g. the run's ``Tracker``, whose
            ``log_epoch`` is asynchronous; ``benchmarks/epoch_logging.py`` measures it against
            synchronous logging).
        run_id: the run to write into.

    ``history`` keeps what was logged, so an interrupted run can still draw its curves up to the
    last finished epoch.
    """

    def __init__(self, tracker: EpochSink, run_id: str) -> None:
        super().__init__()
        self.tracker = tracker
        self.run_id = run_id
        self.history: dict[str, list[float]] = {}
        # Steps the run already has (a resumed run whose process was killed after logging an
        # epoch but before backing it up): that epoch is trained again, bit-identically, and
        # must not be logged twice.
        self.logged_steps: set[int] = set()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.history = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        metrics = {
            k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float, np.number))
        }
        metrics.setdefault("learning_rate", current_learning_rate(self.model))
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}
        if epoch not in self.logged_steps:
            self.tracker.log_epoch(self.run_id, finite, step=epoch)

    def get_state(self) -> dict[str, Any]:
        """For ``tracking.model.backup``: the curves so far."""
        return {"history": {k: list(v) for k, v in self.history.items()}}

    def set_state(self, state: dict[str, Any]) -> None:
        """Takes the history back without logging it again: the run already has those steps."""
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}


class BestWeights(keras.callbacks.Callback):
    """Remembers the weights of the best epoch *by value* of ``monitor`` (not the last one).

    Args:
        monitor: a key of Keras's epoch logs, e.g. ``val_loss``.
        mode: ``min`` or ``max``.

    After ``fit``, ``restore()`` puts the best weights back whether or not training stopped
    early (see mlflow#12997 for what goes wrong otherwise).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min") -> None:
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max' but got {mode!r}.")
        self.monitor = monitor
        self.mode = mode
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best, self.best_epoch, self.best_weights = None, None, None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise MonitorError(self.monitor, list(logs))
        value = float(logs[self.monitor])
        if _is_better(value, self.best, self.mode):
            self.best, self.best_epoch = value, epoch
            self.best_weights = self.model.get_weights()

    def get_state(self) -> dict[str, Any]:
        """For ``tracking.model.backup``; ``best_weights`` is a list of arrays (or None)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.best_weights = state["best_weights"]

    def restore(self, model: keras.Model) -> bool:
        """Set the best weights on ``model``; False if no epoch produced a finite value."""
        if self.best_weights is None:
            return False
        model.set_weights(self.best_weights)
        return True


class DivergenceGuard(keras.callbacks.TerminateOnNaN):
    """Keras's TerminateOnNaN (stops at the first NaN/inf batch loss) that remembers it fired."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.diverged = False

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged = True
        super().on_batch_end(batch, logs)

    def get_state(self) -> dict[str, Any]:
        """For ``tracking.model.backup``: a resumed diverged run must still say it diverged."""
        return {"diverged": self.diverged}

    def set_state(self, state: dict[str, Any]) -> None:
        self.diverged = bool(state["diverged"])
