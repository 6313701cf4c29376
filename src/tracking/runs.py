"""MLflow run lifecycle: open a run (ours, `mlflow run`'s, or nested), close it with a status.

Runs are addressed by id everywhere (the fluent "active run" is thread-local); the fluent API is
only made to point at our run so that ``mlflow.tensorflow.log_model`` logs into it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from types import FrameType

import mlflow
from mlflow import MlflowClient

log = logging.getLogger(__name__)

PARENT_TAG = "mlflow.parentRunId"


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler, so runs end KILLED, not RUNNING."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into ``Terminated`` (a plain SIGTERM would leave the run RUNNING forever)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)


def open_run(
    run_name: str, *, parent_run_id: str | None = None, tags: Mapping[str, str] | None = None
) -> str:
    """Create (or adopt) the run for one training and make it the thread's active run.

    - with ``parent_run_id``: a new child run in the parent's experiment;
    - under ``mlflow run`` (``MLFLOW_RUN_ID`` set): the run MLflow opened for the command;
    - otherwise: a new run in the current experiment.
    """
    client = MlflowClient()
    tags = dict(tags or {})
    if parent_run_id:
        experiment_id = client.get_run(parent_run_id).info.experiment_id
        tags[PARENT_TAG] = parent_run_id
        run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    elif os.environ.get("MLFLOW_RUN_ID"):
        run_id = os.environ["MLFLOW_RUN_ID"]
        client.update_run(run_id, name=run_name)
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    else:
        run = mlflow.start_run(run_name=run_name, tags=tags)
        return run.info.run_id
    mlflow.start_run(run_id=run_id, nested=True)
    return run_id


def close_run(run_id: str, status: str) -> None:
    """Flush pending async metrics, then end the run with ``status`` (FINISHED/FAILED/KILLED)."""
    try:
        mlflow.flush_async_logging()
    finally:
        active = mlflow.active_run()
        if active is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
        else:
            MlflowClient().set_terminated(run_id, status=status)
