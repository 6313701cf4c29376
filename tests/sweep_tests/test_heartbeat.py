"""Heartbeats through a real gRPC storage proxy (Optuna's server, in this process)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import optuna
import pytest
from optuna.storages._grpc.server import make_server
from optuna.trial import TrialState

from tests.browser import free_port
from tracking.sweep.heartbeat import HeartbeatProxy

GRACE = 1


@pytest.fixture
def proxy() -> Iterator[HeartbeatProxy]:
    port = free_port()
    server = make_server(optuna.storages.InMemoryStorage(), "127.0.0.1", port)
    server.start()
    client = HeartbeatProxy(host="127.0.0.1", port=port, heartbeat_interval=1,
                            grace_period=GRACE, heartbeat_stale_trial_callback=None)  # fmt: skip
    client.wait_server_ready(timeout=10)
    yield client
    client.close()
    server.stop(None)


def test_a_trial_whose_beat_stops_is_stale_after_the_grace_period(proxy: HeartbeatProxy) -> None:
    study = optuna.create_study(storage=proxy)
    alive, dead = study.ask(), study.ask()
    for trial in (alive, dead):
        proxy.record_heartbeat(trial._trial_id)
    # Seen for the first time: nothing is stale yet, whatever the beats' timestamps say.
    assert proxy._get_stale_trial_ids(study._study_id) == []
    time.sleep(GRACE / 2)
    proxy.record_heartbeat(alive._trial_id)
    assert proxy._get_stale_trial_ids(study._study_id) == []
    time.sleep(GRACE * 0.7)
    proxy.record_heartbeat(alive._trial_id)
    # The silent one is stale, the beating one is not.
    assert proxy._get_stale_trial_ids(study._study_id) == [dead._trial_id]


def test_optuna_fails_the_stale_trial_and_calls_back(proxy: HeartbeatProxy) -> None:
    called: list[int] = []
    proxy.heartbeat_stale_trial_callback = lambda study, trial: called.append(trial.number)
    study = optuna.create_study(storage=proxy)
    trial = study.ask()
    proxy.record_heartbeat(trial._trial_id)
    optuna.storages.fail_stale_trials(study)  # first look
    time.sleep(GRACE * 1.5)
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == TrialState.FAIL and called == [0]
    # A heartbeat of a trial failed meanwhile is dropped, not raised in Optuna's thread.
    proxy.record_heartbeat(trial._trial_id)
