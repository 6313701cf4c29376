"""The sweep: an Optuna study whose trials are training runs nested under one parent run.

- ``SweepConfig`` (``config``), ``validate_sweep`` (``validation``): the study's parameters
  and search bounds;
- ``open_storage`` (``storage``): the Optuna storage, opened before anything heavy;
- ``run_sweep``, ``SweepResult`` (``study``): load or create the study, run trials (in this
  process or in worker processes), summarise, promote; built from ``opening`` (the study and
  its parent run, ``parent``), ``dimensions`` and ``space`` (the search space, define-by-run),
  ``samplers``, ``pruning`` and ``budget`` (pruners and the per-epoch callback), ``stopping``
  (stop_after, target), ``objective`` (one trial = one child run), ``trials`` and ``workers``
  (where the trials run), ``summary`` (the parent's figures and tables), ``champion`` and
  ``promotion`` (the ``champion`` alias) and ``refit``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "SweepConfig": "tracking.sweep.config",
    "validate_sweep": "tracking.sweep.validation",
    "open_storage": "tracking.sweep.storage",
    "run_sweep": "tracking.sweep.study",
    "SweepResult": "tracking.sweep.study",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tracking.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
