"""-P stop_after and -P target: a study that stops itself, in every process that runs it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tracking.sweep.config import SweepConfig
from tracking.sweep.stopping import StopRules, stop_rule, why_stopped
from tracking.sweep.trials import remaining


def _study(values: list[float], direction: str = "minimize") -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for value in values:
        study.add_trial(optuna.trial.create_trial(value=value))
    return study


def test_stop_after_counts_complete_trials_since_the_best() -> None:
    sweep = SweepConfig(stop_after=3)
    # The best (0.2) is followed by two trials that do not improve on it: not yet.
    assert stop_rule(_study([0.5, 0.2, 0.3, 0.25]), sweep) is None
    # A third one: the study stops.
    assert stop_rule(_study([0.5, 0.2, 0.3, 0.25, 0.2]), sweep) == "stop_after"
    # An improvement starts the count again.
    assert stop_rule(_study([0.5, 0.2, 0.3, 0.25, 0.1, 0.3]), sweep) is None
    # stop_after=0 never stops.
    assert stop_rule(_study([0.1] + [0.5] * 20), SweepConfig()) is None


def test_pruned_trials_do_not_count_towards_stop_after() -> None:
    study = _study([0.2, 0.3])
    for _ in range(5):
        study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED))
    assert stop_rule(study, SweepConfig(stop_after=2)) is None


@pytest.mark.parametrize(
    ("direction", "values", "target", "stops"),
    [
        ("minimize", [0.5, 0.3], "0.3", True),  # reached exactly
        ("minimize", [0.5, 0.31], "0.3", False),
        ("maximize", [0.9, 0.97], "0.96", True),
        ("maximize", [0.9, 0.95], "0.96", False),
        ("maximize", [0.99], "none", False),  # no target
    ],
)
def test_target_is_met_in_the_monitors_direction(
    direction: str, values: list[float], target: str, stops: bool
) -> None:
    rule = stop_rule(_study(values, direction), SweepConfig(target=target))
    assert rule == ("target" if stops else None)


def test_the_callback_stops_optimize_and_remaining_counts_nothing(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep = SweepConfig(n_trials=50, stop_after=2)
    study = optuna.create_study(study_name="s", storage=storage)
    values = iter([0.5, 0.1, 0.2, 0.3, 0.05, 0.01, 0.001])
    study.optimize(lambda t: next(values), n_trials=50, callbacks=[StopRules(sweep)])
    # 0.1 is the best, then 0.2 and 0.3 do not improve: stopped after 4 trials, not 50.
    assert len(study.trials) == 4
    # Another process loading the study from storage sees the same verdict.
    other = optuna.load_study(study_name="s", storage=storage)
    assert remaining(other, sweep) == 0 and remaining(other, SweepConfig(n_trials=50)) == 46
    assert why_stopped(other, sweep, counted=4, timed_out=False) == "stop_after"
    assert why_stopped(other, SweepConfig(n_trials=4), counted=4, timed_out=False) == "n_trials"
    assert why_stopped(other, SweepConfig(n_trials=9), counted=4, timed_out=True) == "timeout"
