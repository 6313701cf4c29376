"""Per-epoch pruning: Optuna's pruners, and a Keras callback that reports to the trial.

The callback reports the monitored value at ``step = epoch`` (Keras's 0-based epoch index, the
same step the MLflow metric uses), raises MonitorError at the first epoch when the monitored key
is missing (optuna_integration's callback only warns, which silently disables pruning), and when
the pruner says so stops training and sets ``stop_reason = "pruned"``:
``tracking.run.training.train`` then ends the run cleanly without scoring or logging a model, and
the caller raises TrialPruned.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Protocol

import keras
import optuna

from tracking.config.errors import MonitorError
from tracking.config.tags import StopReason
from tracking.sweep.budget import EPOCHS_ATTR, BudgetPruner
from tracking.sweep.config import PRUNERS, SweepConfig


class Reporter(Protocol):
    """The part of ``optuna.Trial`` the callback uses."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


KEEP_PERCENTILE = 25.0  # percentile: a trial goes on while it is in the best quarter


def make_pruner(sweep: SweepConfig) -> optuna.pruners.BasePruner:
    """Optuna's own pruner for ``sweep.pruner`` (validated by ``validate_sweep``)."""
    median = optuna.pruners.MedianPruner(
        n_startup_trials=sweep.prune_startup_trials, n_warmup_steps=sweep.prune_warmup_epochs
    )
    if sweep.pruner == "budget":
        # The median of the complete trials at the same epoch, once a trial has trained
        # prune_warmup_fraction of its own epochs (tracking.sweep.budget).
        return BudgetPruner(median, sweep.prune_warmup_fraction, sweep.epochs_max)
    if sweep.pruner == "percentile":
        # Once prune_startup_trials trials are complete, a trial past its warm-up epochs stops
        # when its best value so far is outside the best quarter of the complete trials' best
        # values at the same epoch. The startup trials all finish: TPE learns from them, and
        # the parameter importances have enough complete trials to be drawn.
        return optuna.pruners.PercentilePruner(
            KEEP_PERCENTILE,
            n_startup_trials=sweep.prune_startup_trials,
            n_warmup_steps=sweep.prune_warmup_epochs,
        )
    if sweep.pruner == "median":
        return median
    if sweep.pruner == "patient":
        with warnings.catch_warnings():  # "experimental since v2.8", stable in practice
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.PatientPruner(median, patience=sweep.prune_patience)
    if sweep.pruner == "halving":
        # Rungs at steps 1, 3, 9, 27, ...: at each, a trial goes on only if it is in the best
        # third of the trials that reached that step so far (epoch N = step + 1).
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if sweep.pruner == "hyperband":
        # One resource unit = one epoch; the longest a trial can train is the epochs upper bound.
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=sweep.epochs_max)
    if sweep.pruner == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"Unknown pruner {sweep.pruner!r}; expected one of {', '.join(PRUNERS)}.")


class PruningCallback(keras.callbacks.Callback):
    """Report ``monitor`` to an Optuna trial every epoch; stop the fit when it should be pruned.

    The last epoch of ``fit`` is reported but never pruned: the trial has trained all it would.

    Args:
        trial: the Optuna trial (anything with ``report`` and ``should_prune``).
        monitor: the Keras log key to report, e.g. ``val_loss``.

    Attributes:
        stop_reason: ``"pruned"`` once the pruner stopped the fit, else None (read by train()).
        pruned_at_step: the 0-based epoch at which the trial was pruned (epoch N = step + 1).
    """

    def __init__(self, trial: Reporter, monitor: str) -> None:
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.stop_reason: StopReason | None = None
        self.pruned_at_step: int | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.stop_reason = None
        self.pruned_at_step = None
        set_attr = getattr(self.trial, "set_user_attr", None)  # the budget pruner reads it
        if set_attr is not None and self.params and "epochs" in self.params:
            set_attr(EPOCHS_ATTR, int(self.params["epochs"]))

    def get_state(self) -> dict[str, Any]:  # tracking.model.backup: a resumed trial remembers
        return {"stop_reason": self.stop_reason, "pruned_at_step": self.pruned_at_step}

    def set_state(self, state: dict[str, Any]) -> None:
        self.stop_reason = state["stop_reason"]
        self.pruned_at_step = state["pruned_at_step"]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise MonitorError(self.monitor, list(logs))
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            return  # a diverged epoch: train() stops the run itself; Optuna would reject NaN
        self.trial.report(value, step=epoch)
        # Pruning the last epoch would save nothing and throw away a finished trial's model.
        last = bool(self.params) and epoch + 1 >= self.params.get("epochs", math.inf)
        if not last and self.trial.should_prune():
            self.stop_reason = "pruned"
            self.pruned_at_step = epoch
            self.model.stop_training = True
