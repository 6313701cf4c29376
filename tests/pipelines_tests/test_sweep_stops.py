"""-P stop_after and -P target end a real study early (digits, real SQLite stores), in one
process and with worker processes; the parent run and the console's last line say why."""

from __future__ import annotations

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from pipelines.sweep import main

# Every dimension fixed: each trial trains the same model, so none improves on trial 0's value
# by more than the machine's noise, and stop_after is reached within a few trials.
FIXED = [
    "--dataset", "digits", "--max-train-samples", "500", "--registered-model-name", "digits-mlp",
    "--cv-folds", "0",
    "--epochs-min", "2", "--epochs-max", "2", "--batch-sizes", "64", "--optimizers", "adam",
    "--learning-rate-min", "0.001", "--learning-rate-max", "0.001", "--dropout-min", "0.1",
    "--dropout-max", "0.1", "--l2-min", "0", "--l2-max", "0", "--reduce-lr-patiences", "2",
    "--batch-norms", "false", "--hidden-layers-min", "1", "--hidden-layers-max", "1",
    "--hidden-width-min", "16", "--hidden-width-max", "16", "--pruner", "none",
    "--system-metrics", "false",
]  # fmt: skip
# Real sweeps of several trials: above the default suite's ~20 s a test.
pytestmark = pytest.mark.slow
N_TRIALS = 12


def _parent() -> mlflow.entities.Run:
    [parent] = mlflow.search_runs(
        search_all_experiments=True,
        filter_string="tags.`sweep.role` = 'parent'",
        output_format="list",
    )
    return parent


def _values(study: optuna.Study) -> list[float]:
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    return [t.value for t in sorted(complete, key=lambda t: t.number)]  # type: ignore[misc]


def _without_improvement(values: list[float]) -> int:
    """Complete trials since the best value last improved (the stop_after count)."""
    best, since = values[0], 0
    for value in values[1:]:
        best, since = (value, 0) if value < best else (best, since + 1)
    return since


def test_stop_after_ends_a_real_study_early(capsys: pytest.CaptureFixture) -> None:
    assert main([*FIXED, "--n-trials", str(N_TRIALS), "--stop-after", "2"]) == 0
    study = optuna.load_study(study_name="digits-mlp-sweep", storage="sqlite:///optuna.db")
    # Stopped as soon as 2 complete trials in a row did not improve: well before n_trials.
    assert len(study.trials) < N_TRIALS
    assert _without_improvement(_values(study)) == 2
    parent = _parent()
    assert parent.data.tags["stop_reason"] == "stop_after"
    assert parent.info.status == "FINISHED"
    # The console says why, after the study's line and before what the sweep found.
    lines = capsys.readouterr().out.strip().splitlines()
    stops = [line for line in lines if line.startswith("stopped (")]
    assert len(stops) == 1 and stops[0].startswith(
        "stopped (stop_after): stop_after=2 complete trials"
    ), lines


def test_target_ends_a_real_study_once_reached(capsys: pytest.CaptureFixture) -> None:
    argv = [*FIXED, "--n-trials", str(N_TRIALS), "--target", "2.5"]
    assert main(argv) == 0
    study = optuna.load_study(study_name="digits-mlp-sweep", storage="sqlite:///optuna.db")
    # Trial 0's validation loss (2 epochs of 16 units on 450 rows) is below 2.5: the study ends
    # with it.
    values = [t.value for t in study.trials]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE], values
    assert study.best_value <= 2.5
    assert _parent().data.tags["stop_reason"] == "target"
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line for line in lines if line.startswith("stopped (")][0].startswith(
        "stopped (target)"
    ), lines


def test_without_a_rule_the_study_stops_at_n_trials() -> None:
    assert main([*FIXED, "--n-trials", "2"]) == 0
    assert _parent().data.tags["stop_reason"] == "n_trials"


@pytest.mark.serial  # two worker processes: both cores
def test_stop_after_ends_a_study_run_by_two_workers() -> None:
    argv = [*FIXED, "--n-trials", str(N_TRIALS), "--stop-after", "1", "--workers", "2"]
    assert main(argv) == 0
    study = optuna.load_study(study_name="digits-mlp-sweep", storage="sqlite:///optuna.db")
    # Each worker reads the study from storage after every trial: both stop, none is replaced.
    assert len(study.trials) < N_TRIALS
    assert all(t.state.is_finished() for t in study.trials)
    assert len({t.user_attrs["worker_pid"] for t in study.trials}) == 2
    assert _parent().data.tags["stop_reason"] == "stop_after"
