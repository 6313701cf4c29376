"""The sweep's parameters checked before anything heavy starts (standard library and PyYAML):
the first bad one raises ConfigError naming it, its value and the fix."""

from __future__ import annotations

from tracking.config.errors import ConfigError
from tracking.config.params import check
from tracking.model.devices import gpu_list
from tracking.sweep.choices import check_choices
from tracking.sweep.config import BOUND_PAIRS, SweepConfig
from tracking.sweep.search_space import entries


def validate_sweep(sweep: SweepConfig) -> None:
    """Raise ConfigError naming the first bad sweep parameter."""

    check(sweep)
    s = sweep
    if not s.study_name.strip():
        raise ConfigError("study_name", s.study_name, "must not be empty", "e.g. -P study_name=s1")
    if "://" not in s.storage:
        raise ConfigError(
            "storage",
            s.storage,
            "is not a database URL",
            "pass e.g. -P storage=sqlite:///optuna.db or postgresql://user@host/db",
        )
    defaults = SweepConfig()
    for low, high in BOUND_PAIRS:
        if getattr(s, low) > getattr(s, high):
            example = f"-P {low}={getattr(defaults, low)} -P {high}={getattr(defaults, high)}"
            raise ConfigError(
                low,
                getattr(s, low),
                f"is above {high}={getattr(s, high)!r}",
                f"pass e.g. {example}",
            )
    check_choices(s)
    if not all(p.strip().isdigit() for p in s.reduce_lr_patiences.split(",")):
        raise ConfigError(
            "reduce_lr_patiences",
            s.reduce_lr_patiences,
            "is not a list of integers 0 or greater",
            "pass e.g. -P reduce_lr_patiences=0,2",
        )
    _check_workers(s)

    entries(s.search_space)
    if (s.l2_min == 0) != (s.l2_max == 0):  # a log range cannot include 0
        raise ConfigError(
            "l2_min",
            s.l2_min,
            "must be greater than 0 (log scale), or pass l2_min=0 and l2_max=0 for no L2",
            "pass e.g. -P l2_min=1e-6",
        )


def _check_workers(s: SweepConfig) -> None:
    """What the workers need: a grace period for their heartbeats, GPUs, a backup folder."""
    if s.grace_period < 2 * s.heartbeat_interval:  # a live but busy worker must not be failed
        raise ConfigError(
            "grace_period",
            s.grace_period,
            f"must be at least twice heartbeat_interval={s.heartbeat_interval} (optuna#5470)",
            f"pass e.g. -P grace_period={5 * s.heartbeat_interval}",
        )
    try:
        gpu_list(s.gpus)
    except ValueError as error:
        raise ConfigError(
            "gpus",
            s.gpus,
            f"is not a list of GPU numbers or UUIDs: {error}",
            "pass e.g. -P gpus=0,1",
        ) from None
    if not s.backup_dir.strip():
        raise ConfigError(
            "backup_dir", s.backup_dir, "must not be empty", "e.g. -P backup_dir=.backups"
        )
