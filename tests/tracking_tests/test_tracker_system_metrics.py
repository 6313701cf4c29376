"""MLflow's system metrics sampler through the door: one sample even for a run shorter than the
sampling interval, and a reopened run continues its steps."""

from __future__ import annotations

from mlflow import MlflowClient

from tracking.door.tracker import Tracker

CPU, MEMORY = "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"


def _steps(run_id: str, key: str) -> list[int]:
    return [m.step for m in MlflowClient().get_metric_history(run_id, key)]


def test_a_run_shorter_than_the_interval_gets_one_sample() -> None:
    tracker = Tracker()
    run_id = tracker.create_run("short")
    tracker.log_system_metrics(run_id, 60.0)
    tracker.end_run(run_id, "FINISHED")  # long before the first interval has passed
    assert _steps(run_id, CPU) == [0] and _steps(run_id, MEMORY) == [0]
    assert tracker.get_run(run_id).metrics[MEMORY] > 10  # megabytes in use: a real sample
    assert tracker.run_status(run_id) == "FINISHED"


def test_a_reopened_run_continues_its_steps() -> None:
    tracker = Tracker()
    run_id = tracker.create_run("resumed")
    tracker.log_system_metrics(run_id, 60.0)
    tracker.end_run(run_id, "KILLED")
    tracker.reopen_run(run_id)
    tracker.log_system_metrics(run_id, 60.0, resume=True)
    tracker.end_run(run_id, "FINISHED")
    assert _steps(run_id, CPU) == [0, 1]
