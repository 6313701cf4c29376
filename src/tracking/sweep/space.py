"""The search space: what one Optuna trial changes in the base TrainConfig.

epochs (int), batch_size (categorical), learning_rate (log), dropout (uniform), l2 (log), and
reduce_lr_patience (categorical; by default the one choice 2: every trial halves its learning
rate after 2 epochs without improvement, which the default single run does not). A range whose
bounds are equal, or a single choice, is not searched: the value is fixed and does not appear in
the trial's params (Optuna cannot sample a log range that includes 0, so ``l2_min=l2_max=0``
means no L2). The entries of ``-P search_space`` (``tracking.sweep.search_space``) are drawn after
them and reach the model function through ``params``, over the values ``-P params`` gives.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal, Protocol

from tracking.config.train import TrainConfig, monitor_mode
from tracking.sweep.config import SweepConfig
from tracking.sweep.search_space import entries

SEARCHED = ("epochs", "batch_size", "learning_rate", "dropout", "l2", "reduce_lr_patience")


class Suggester(Protocol):
    """The part of ``optuna.Trial`` the space uses (a stub with these methods works in tests)."""

    def suggest_int(self, name: str, low: int, high: int) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: list[int]) -> int: ...


def direction(monitor: str) -> Literal["minimize", "maximize"]:
    """Optuna's direction for ``monitor``: the same rule as early stopping's mode."""
    return "maximize" if monitor_mode(monitor) == "max" else "minimize"


def suggest_config(trial: Suggester, base: TrainConfig, sweep: SweepConfig) -> TrainConfig:
    """The trial's TrainConfig: the base with the searched parameters replaced."""
    s = sweep
    choices = list(dict.fromkeys(s.batch_size_choices))
    patiences = list(dict.fromkeys(s.reduce_lr_patience_choices))

    def float_param(name: str, low: float, high: float, log: bool) -> float:
        return low if low == high else trial.suggest_float(name, low, high, log=log)

    values: dict[str, Any] = {
        "epochs": (
            s.epochs_min
            if s.epochs_min == s.epochs_max
            else trial.suggest_int("epochs", s.epochs_min, s.epochs_max)
        ),
        "batch_size": choices[0]
        if len(choices) == 1
        else trial.suggest_categorical("batch_size", choices),
        "learning_rate": float_param(
            "learning_rate", s.learning_rate_min, s.learning_rate_max, True
        ),
        "reduce_lr_patience": patiences[0]
        if len(patiences) == 1
        else trial.suggest_categorical("reduce_lr_patience", patiences),
        "dropout": float_param("dropout", s.dropout_min, s.dropout_max, False),
        "l2": float_param("l2", s.l2_min, s.l2_max, True),
    }
    own = {entry.name: entry.suggest(trial) for entry in entries(s.search_space)}
    if own:  # -P search_space: drawn next to the built-in ones, passed on in params
        values["params"] = json.dumps({**base.user_params, **own})
    return dataclasses.replace(base, **values)
