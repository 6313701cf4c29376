"""Every private Optuna name the project relies on, each with a public-API fallback.

The Optuna side of ``tracking.compat`` (which holds MLflow's and Keras's), kept apart because
the sweep's storage imports it before anything heavy: Optuna only, no MLflow. An upgrade that
removes or renames one of these falls back instead of failing;
``tests/tracking_tests/test_compat.py`` fails on that upgrade, naming what went.

- ``optuna.storages._heartbeat.BaseHeartbeat``: the base class Optuna's optimize loop and
  ``fail_stale_trials`` recognise a storage with heartbeats by (``RDBStorage`` is one; not
  re-exported). Fallback: the same class found among the public ``RDBStorage``'s bases; if
  Optuna no longer has one, a plain base, and heartbeats through the gRPC proxy are then off.
- ``FrozenTrial._trial_id``: a trial's id in its storage. Fallback: the storage's public
  ``get_trial_id_from_study_id_trial_number``.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)


def _heartbeat_base() -> type:
    try:
        from optuna.storages._heartbeat import BaseHeartbeat
    except ImportError:  # fallback: the base RDBStorage's heartbeats come from, by its name
        found = [c for c in optuna.storages.RDBStorage.__mro__ if c.__name__ == "BaseHeartbeat"]
        if found:
            return found[0]
        log.warning("Optuna has no BaseHeartbeat: no heartbeats through the gRPC storage proxy")
        return object
    return BaseHeartbeat


BaseHeartbeat: Any = _heartbeat_base()


def storage_trial_id(
    trial: FrozenTrial, storage: optuna.storages.BaseStorage, study_id: int
) -> int:
    """The id of ``trial`` (of the study ``study_id``) in ``storage``."""
    if hasattr(trial, "_trial_id"):
        return int(trial._trial_id)
    return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
