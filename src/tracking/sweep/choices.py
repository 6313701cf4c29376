"""The sweep's choice lists, its target and its sampler, checked before anything heavy starts.

Standard library only (``importlib.util.find_spec`` tells whether a sampler's package is
installed without importing it): a missing extra is refused in one line that names it.
"""

from __future__ import annotations

import math
from importlib.util import find_spec
from typing import TYPE_CHECKING

from tracking.config.errors import ConfigError
from tracking.config.train import OPTIMIZERS

if TYPE_CHECKING:
    from tracking.sweep.config import SweepConfig

# What each of Optuna's samplers needs beyond Optuna, and the extra of pyproject.toml that has it.
NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "qmc": (("scipy",), ""),  # scikit-learn's own dependency: always here
    "cmaes": (("cmaes",), ""),  # a dependency of the project (small, numpy only)
    "gp": (("torch", "scipy"), "gp"),  # torch is heavy: pip install -e '.[gp]'
}


def check_choices(s: SweepConfig) -> None:
    """The choice lists and the target: one line naming the parameter and the fix."""
    unknown = [o for o in s.optimizer_choices if o not in OPTIMIZERS]
    if unknown or not s.optimizers.strip():
        raise ConfigError(
            "optimizers", s.optimizers, f"names {unknown[0]!r}" if unknown else "is empty",
            f"pass a comma-separated list of {', '.join(OPTIMIZERS)}, e.g. -P optimizers=adam",
        )  # fmt: skip
    try:
        readable = len(s.batch_norm_choices) > 0
    except ValueError:
        readable = False
    if not readable:
        raise ConfigError(
            "batch_norms", s.batch_norms, "is not a list of true/false",
            "pass e.g. -P batch_norms=false,true or -P batch_norms=false",
        )  # fmt: skip
    try:
        value = s.target_value
    except ValueError:
        value = math.nan
    if value is not None and not math.isfinite(value):
        raise ConfigError(
            "target", s.target, "is not a number",
            "pass e.g. -P target=0.98 (val_accuracy) or -P target=0.05 (val_loss), or '' for none",
        )  # fmt: skip
    check_sampler(s.sampler)


def check_sampler(sampler: str) -> None:
    """Refuse a sampler whose package is not installed, naming what installs it."""
    packages, extra = NEEDS.get(sampler, ((), ""))
    missing = [p for p in packages if find_spec(p) is None]
    if missing:
        fix = f"pip install -e '.[{extra}]'" if extra else f"pip install {' '.join(missing)}"
        raise ConfigError(
            "sampler", sampler, f"needs {' and '.join(missing)}, which is not installed",
            f"run {fix}, or pass -P sampler=tpe",
        )  # fmt: skip
