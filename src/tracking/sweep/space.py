"""The search space: what one Optuna trial changes in the base TrainConfig, define-by-run.

The dimensions are ``tracking.sweep.dimensions``'. A trial draws the optimizer first (built-in
MLP), then the learning rate in that optimizer's range: ``sgd_learning_rate`` when it drew sgd,
``learning_rate`` otherwise, so each name appears only in the trials it belongs to (Optuna's
conditional parameters). ``hidden_layers`` and ``hidden_width`` make ``hidden_units``: the
first layer has ``hidden_width`` units and each next one steps down evenly (3 layers of 300:
``300,200,100``, the base configuration). A dimension fixed by equal bounds or one choice is
not drawn and does not appear in the trial's params. The user's own entries of
``-P search_space`` are drawn last and reach the model function through ``params``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal, Protocol

from tracking.config.train import TrainConfig, monitor_mode
from tracking.sweep.config import SweepConfig
from tracking.sweep.dimensions import Space, space_of
from tracking.sweep.search_space import Entry

# The TrainConfig fields a trial may change (hidden_units through hidden_layers/hidden_width).
SEARCHED = (
    "epochs",
    "batch_size",
    "optimizer",
    "learning_rate",
    "dropout",
    "l2",
    "reduce_lr_patience",
    "batch_norm",
    "hidden_units",
    "translation",
)


class Suggester(Protocol):
    """The part of ``optuna.Trial`` the space uses (a stub with these methods works in tests)."""

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


def direction(monitor: str) -> Literal["minimize", "maximize"]:
    """Optuna's direction for ``monitor``: the same rule as early stopping's mode."""
    return "maximize" if monitor_mode(monitor) == "max" else "minimize"


def hidden_units(layers: int, width: int) -> str:
    """``hidden_units`` of ``layers`` layers, the first ``width`` wide, each next one narrower
    by the same step: (3, 300) -> ``"300,200,100"``, (2, 64) -> ``"64,32"``."""
    return ",".join(str(max(1, round(width * (layers - i) / layers))) for i in range(layers))


def learning_rate_name(optimizer: str) -> str:
    """The dimension that holds ``optimizer``'s learning rate: sgd has a range of its own."""
    return "sgd_learning_rate" if optimizer == "sgd" else "learning_rate"


def suggest_config(trial: Suggester, base: TrainConfig, sweep: SweepConfig) -> TrainConfig:
    """The trial's TrainConfig: the base with every drawn dimension replaced."""
    space = space_of(base, sweep)
    dims = space.dimensions

    def draw(name: str) -> Any:
        return dims[name].suggest(trial)

    values: dict[str, Any] = {
        name: draw(name) for name in ("epochs", "batch_size", "dropout", "l2", "reduce_lr_patience")
    }
    optimizer = draw("optimizer") if "optimizer" in dims else base.optimizer
    values["optimizer"] = optimizer
    values["learning_rate"] = float(draw(learning_rate_name(optimizer)))
    if "batch_norm" in dims:
        values["batch_norm"] = bool(draw("batch_norm"))
    if "translation" in dims:
        values["translation"] = float(draw("translation"))
    if "hidden_layers" in dims:
        values["hidden_units"] = hidden_units(int(draw("hidden_layers")), int(draw("hidden_width")))
    own = {entry.name: entry.suggest(trial) for entry in space.own}
    if own:  # -P search_space: drawn next to the built-in ones, passed on in params
        values["params"] = json.dumps({**base.user_params, **own})
    return dataclasses.replace(base, **values)


def base_params(base: TrainConfig, sweep: SweepConfig) -> dict[str, Any]:
    """The base configuration as a trial's params (what ``enqueue_trial`` is given for trial 0):
    each drawn dimension's base value, brought into its range (the nearest bound, the nearest
    choice; ``l2=0`` on a log range becomes its lower bound); the user's own entries' from
    ``-P params``, else their ``default`` (``Entry.base_value``)."""
    space: Space = space_of(base, sweep)
    units = [int(u) for u in str(base.hidden_units).split(",")]  # also hidden_units=8 (int)
    given: dict[str, Any] = {
        "epochs": base.epochs,
        "batch_size": base.batch_size,
        "optimizer": base.optimizer,
        learning_rate_name(base.optimizer): base.learning_rate,
        "dropout": base.dropout,
        "l2": base.l2,
        "reduce_lr_patience": base.reduce_lr_patience,
        "batch_norm": base.batch_norm,
        "hidden_layers": len(units),
        "hidden_width": units[0],
        "translation": base.translation,
    }
    wanted: dict[str, Any] = {}
    dims = space.dimensions
    optimizer = dims["optimizer"].base_value(base.optimizer) if "optimizer" in dims else None
    drawn = set(dims) - {"learning_rate", "sgd_learning_rate"}
    drawn.add(learning_rate_name(optimizer or base.optimizer))
    for name in sorted(drawn):
        entry: Entry = dims[name]
        if entry.distribution != "constant":
            wanted[name] = entry.base_value(given.get(name, base.learning_rate))
    for entry in space.own:
        if entry.distribution != "constant":
            wanted[entry.name] = entry.base_value(base.user_params.get(entry.name))
    return wanted
