"""The sweep's own configuration: study, pruner and the bounds of the search space.

The sweep CLI is TrainConfig's flags (the base configuration of every trial) plus these. Like
``tracking.config`` this module imports neither TensorFlow nor MLflow, so bad input is refused
at once. Searched parameters (epochs, batch_size, learning_rate, dropout, l2) take their values
from the bounds below; a bound pair with min == max fixes that parameter instead of searching it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tracking.config import TrainConfig, parse_dataclasses, positive_ints
from tracking.errors import ConfigError

PRUNERS = ("median", "hyperband", "patient", "none")


def _opt(help: str) -> Any:
    return {"help": help}


@dataclass(frozen=True)
class SweepConfig:
    """How many trials, where the study lives, how trials are pruned, and what is searched."""

    n_trials: int = field(default=20, metadata=_opt("total trials in the study (a cap)"))
    timeout: float = field(default=0.0, metadata=_opt("stop starting trials after N s, 0 = none"))
    study_name: str = field(default="mnist-mlp-sweep", metadata=_opt("Optuna study name"))
    storage: str = field(default="sqlite:///optuna.db", metadata=_opt("Optuna storage URL"))
    pruner: str = field(default="median", metadata=_opt("median | hyperband | patient | none"))
    sampler_seed: int = field(default=0, metadata=_opt("TPESampler seed (offset by trial count)"))
    prune_startup_trials: int = field(
        default=3, metadata=_opt("median/patient: trials finished before pruning starts")
    )
    prune_warmup_epochs: int = field(
        default=2, metadata=_opt("median/patient: epochs of a trial before it can be pruned")
    )
    prune_patience: int = field(
        default=2, metadata=_opt("patient: epochs without improvement before the median rule")
    )
    epochs_min: int = field(default=5, metadata=_opt("search space: epochs lower bound"))
    epochs_max: int = field(default=50, metadata=_opt("search space: epochs upper bound"))
    batch_sizes: str = field(
        default="32,64,128,256,512", metadata=_opt("search space: batch_size choices")
    )
    learning_rate_min: float = field(default=1e-4, metadata=_opt("search space (log)"))
    learning_rate_max: float = field(default=1e-1, metadata=_opt("search space (log)"))
    dropout_min: float = field(default=0.0, metadata=_opt("search space"))
    dropout_max: float = field(default=0.5, metadata=_opt("search space"))
    l2_min: float = field(default=1e-6, metadata=_opt("search space (log; 0,0 = no L2)"))
    l2_max: float = field(default=1e-2, metadata=_opt("search space (log; 0,0 = no L2)"))

    @property
    def batch_size_choices(self) -> tuple[int, ...]:
        return tuple(int(b) for b in self.batch_sizes.split(","))


def validate_sweep(sweep: SweepConfig) -> SweepConfig:
    """Raise ConfigError naming the first bad sweep parameter; return the config otherwise."""
    s = sweep

    def need(ok: bool, name: str, problem: str, fix: str) -> None:
        if not ok:
            raise ConfigError(name, getattr(s, name), problem, fix)

    def bounds(low: str, high: str, fix: str) -> None:
        need(getattr(s, low) <= getattr(s, high), low, f"is above {high}={getattr(s, high)!r}", fix)

    need(s.n_trials >= 1, "n_trials", "must be at least 1", "pass e.g. -P n_trials=20")
    need(
        math.isfinite(s.timeout) and s.timeout >= 0,
        "timeout",
        "must be 0 (none) or a number of seconds",
        "pass e.g. -P timeout=3600",
    )
    need(bool(s.study_name.strip()), "study_name", "must not be empty", "e.g. -P study_name=s1")
    need(
        "://" in s.storage,
        "storage",
        "is not a database URL",
        "pass e.g. -P storage=sqlite:///optuna.db or postgresql://user@host/db",
    )
    need(s.pruner in PRUNERS, "pruner", "is not supported", f"use one of {', '.join(PRUNERS)}")
    for name in ("prune_startup_trials", "prune_warmup_epochs", "prune_patience"):
        need(getattr(s, name) >= 0, name, "must be 0 or greater", f"pass e.g. -P {name}=2")
    need(s.epochs_min >= 1, "epochs_min", "must be at least 1", "pass e.g. -P epochs_min=5")
    bounds("epochs_min", "epochs_max", "pass e.g. -P epochs_min=5 -P epochs_max=50")
    need(
        positive_ints(s.batch_sizes),
        "batch_sizes",
        "is not a list of positive integers",
        "pass e.g. -P batch_sizes=32,64,128",
    )
    need(
        math.isfinite(s.learning_rate_min) and s.learning_rate_min > 0,
        "learning_rate_min",
        "must be greater than 0 (the range is searched on a log scale)",
        "pass e.g. -P learning_rate_min=0.0001",
    )
    need(math.isfinite(s.learning_rate_max), "learning_rate_max", "must be finite", "e.g. 0.1")
    bounds("learning_rate_min", "learning_rate_max", "pass e.g. -P learning_rate_max=0.1")
    need(s.dropout_min >= 0.0, "dropout_min", "must be in [0, 1)", "pass e.g. -P dropout_min=0")
    need(s.dropout_max < 1.0, "dropout_max", "must be in [0, 1)", "pass e.g. -P dropout_max=0.5")
    bounds("dropout_min", "dropout_max", "pass e.g. -P dropout_min=0 -P dropout_max=0.5")
    no_l2 = s.l2_min == 0 and s.l2_max == 0
    need(
        no_l2 or (math.isfinite(s.l2_min) and s.l2_min > 0),
        "l2_min",
        "must be greater than 0 (log scale), or pass l2_min=0 and l2_max=0 for no L2",
        "pass e.g. -P l2_min=1e-6",
    )
    need(math.isfinite(s.l2_max), "l2_max", "must be finite", "pass e.g. -P l2_max=0.01")
    bounds("l2_min", "l2_max", "pass e.g. -P l2_min=1e-6 -P l2_max=1e-2")
    return sweep


def parse_sweep_args(argv: Sequence[str] | None) -> tuple[TrainConfig, SweepConfig]:
    """The sweep CLI: TrainConfig flags (base of every trial) + SweepConfig flags."""
    base, sweep = parse_dataclasses(
        argv,
        "python -m pipelines.sweep",
        "Optuna study over a Keras MLP, every trial a nested MLflow run.",
        TrainConfig,
        SweepConfig,
    )
    return base, sweep
