"""Heartbeats through Optuna's gRPC storage proxy, which has none of its own (its
``GrpcStorageProxy`` is not a ``BaseHeartbeat``; only ``RDBStorage`` is).

``HeartbeatProxy`` is the proxy's client plus Optuna's ``BaseHeartbeat``: a running trial's
beat is a system attr of the trial (``heartbeat``, written every ``heartbeat_interval`` seconds
by Optuna's own heartbeat thread, through the proxy like any other write). So Optuna does the
rest as on a database: ``fail_stale_trials`` before each trial, and the sweep's ``settle``, fail
a trial whose beat stopped and hand it to the same ``StaleTrials`` callback (its run ended, the
trial retried).

Each process judges staleness by its own clock: a beat is stale when its value has not changed
for ``grace_period`` seconds since this process first saw it, so clocks of different machines
need not agree; a process that has just started waits ``grace_period`` before failing anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import optuna
from optuna.storages import GrpcStorageProxy
from optuna.trial import FrozenTrial, TrialState

from tracking.compat_optuna import BaseHeartbeat, storage_trial_id

log = logging.getLogger(__name__)
HEARTBEAT_ATTR = "heartbeat"


class HeartbeatProxy(GrpcStorageProxy, BaseHeartbeat):
    """``GrpcStorageProxy`` with heartbeats kept in the trials' system attrs."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        heartbeat_interval: int,
        grace_period: int | None,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None,
    ) -> None:
        super().__init__(host=host, port=port)
        if heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval must be positive but got {heartbeat_interval}.")
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period or 2 * heartbeat_interval  # RDBStorage's default
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback
        self._seen: dict[int, tuple[object, float]] = {}  # trial id -> (beat, first seen)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except optuna.exceptions.UpdateFinishedTrialError:  # failed by another worker meanwhile
            log.warning("trial id %d was failed by another worker; no more heartbeats", trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.monotonic()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        stale = []
        alive = {storage_trial_id(t, self, study_id): t for t in running}
        for id_, trial in alive.items():
            beat = trial.system_attrs.get(HEARTBEAT_ATTR)
            seen = self._seen.get(id_)
            if seen is None or seen[0] != beat:
                self._seen[id_] = (beat, now)
            elif now - seen[1] > self.grace_period:
                stale.append(id_)
        self._seen = {k: v for k, v in self._seen.items() if k in alive}
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback
