"""The one door to MLflow: everything the project writes to or reads from MLflow goes through here.

One ``MlflowClient`` and one tracking URI per ``Tracker``; runs are addressed by id everywhere
(MLflow's "active run" is thread-local, so nothing here relies on it). Per-epoch metrics are
logged asynchronously and waited for when the run ends; everything else goes in batches
(``log_batch``). MLflow's own tags are named with its constants (``mlflow.utils.mlflow_tags``),
the project's in ``tracking.config.tags``. Artifacts are in ``tracking.door.artifacts``, models and
the registry in ``tracking.door.models``; what comes out is a ``tracking.door.records`` type,
never an MLflow object. Callbacks, training and the sweep receive a Tracker; none of them
creates a client.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag
from mlflow.environment_variables import MLFLOW_RUN_ID
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from tracking import compat
from tracking.config import tags as T
from tracking.config.errors import Terminated
from tracking.config.params import param_text
from tracking.config.redact import redact
from tracking.door.artifacts import ArtifactsDoor
from tracking.door.models import ModelsDoor, quoted
from tracking.door.records import MetricPoint, RunRecord
from tracking.door.sqlite import share_sqlite

__all__ = ["Terminated", "Tracker", "quoted"]

log = logging.getLogger(__name__)
BATCH = 100  # MLflow's limit of params per log_batch call
# MLflow's INFO lines no caller asked for: its system-metrics sampler says four per run (GPUs
# skipped, started, stopping, stopped) and a new SQLite store two (its tables). The entry points
# (``pipelines/_cli.py``) silence them; a Tracker does the same for every other caller, a
# notebook's included, unless that logger's level was chosen (then it says what was chosen).
QUIET_LOGGERS = ("mlflow.system_metrics", "mlflow.store.db.utils")
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


def now_ms() -> int:
    return int(time.time() * 1000)


class Tracker(ArtifactsDoor, ModelsDoor):
    """Where a run's params, metrics, tags, artifacts, model and registry versions go.

    ``tracking_uri`` (default: MLflow's process-wide one, read once here) is where all of it
    goes, the registry included (``registry_uri``, default the tracking URI when one is given,
    else MLflow's process-wide registry URI). Artifacts: ``ArtifactsDoor``; logged models,
    loading and the registry: ``ModelsDoor``.
    """

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        quiet_mlflow_info()
        self.uri = tracking_uri or mlflow.get_tracking_uri()
        self.registry_uri = registry_uri or tracking_uri or mlflow.get_registry_uri()
        self.client = MlflowClient(self.uri, registry_uri=self.registry_uri)
        self._pending: list[Any] = []  # async metric batches not yet written
        self._system_metrics: dict[str, Any] = {}  # run id -> MLflow's sampler on it
        self._experiment_of: dict[str, str] = {}  # parent run id -> its experiment (fixed)
        self._texts: dict[tuple[str, str], str] = {}  # ArtifactsDoor: texts logged lately
        self._logged_metadata: dict[str, dict[str, Any]] = {}  # ModelsDoor: models logged lately

    # --- runs -----------------------------------------------------------------------------

    @staticmethod
    def active_run_id() -> str | None:
        """The run ``mlflow.start_run()`` made active in this thread, if any (a notebook's)."""
        run = mlflow.active_run()
        return run.info.run_id if run is not None else None

    def experiment_id(self) -> str:
        """Where new runs go, in this tracker's store: the experiment ``mlflow.set_experiment``
        chose, MLFLOW_EXPERIMENT_NAME (created if missing), MLFLOW_EXPERIMENT_ID (set by
        ``mlflow run``), or Default ("0")."""
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
        if (active := compat.active_experiment_id()) and self.uri == mlflow.get_tracking_uri():
            return active
        if name:
            found = self.client.get_experiment_by_name(name)
            return found.experiment_id if found else self.client.create_experiment(name)
        return os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"

    def create_run(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """A new RUNNING run; a child of ``parent_run_id`` (in its experiment) when given."""
        tags = dict(tags or {})
        if parent_run_id:  # a run never changes experiment: asked once per parent
            if parent_run_id not in self._experiment_of:
                parent = self.client.get_run(parent_run_id)
                self._experiment_of[parent_run_id] = parent.info.experiment_id
            experiment_id = self._experiment_of[parent_run_id]
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        else:
            experiment_id = self.experiment_id()
        return self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id

    # The run ``mlflow run`` opened for this command (``MLFLOW_RUN_ID``, the launcher) is the
    # new run of this command, or points at the one it resumes; worker processes never see it.

    def start_run(self, name: str, *, tags: Mapping[str, str] | None = None) -> str:
        """The run of this command: the launcher (renamed), or a new one."""
        launcher = MLFLOW_RUN_ID.get()
        if not launcher:
            return self.create_run(name, tags=tags)
        self.rename_run(launcher, name)
        self.set_tags(launcher, tags or {})
        return launcher

    def resume_run(
        self, run_id: str, *, launcher_name: str, launcher_tags: Mapping[str, str], note: str
    ) -> None:
        """Reopen ``run_id`` for this command; the launcher, if another run, is renamed, tagged
        and described (``note``) so that it points at ``run_id``."""
        self.reopen_run(run_id)
        launcher = MLFLOW_RUN_ID.get()
        if launcher and launcher != run_id:
            self.rename_run(launcher, launcher_name)
            self.set_tags(launcher, launcher_tags)
            self.set_description(launcher, note)

    @staticmethod
    def without_launcher(env: Mapping[str, str]) -> dict[str, str]:
        """``env`` for a process whose runs are its own (a sweep worker's are children)."""
        return {k: v for k, v in env.items() if k != MLFLOW_RUN_ID.name}

    def rename_run(self, run_id: str, name: str) -> None:
        self.client.update_run(run_id, name=name)

    def allow_concurrent_writers(self) -> None:
        """Several processes will write to this store at once: a SQLite file gets write-ahead
        logging (kept in the file), so that readers never block the writer."""
        share_sqlite(self.client.tracking_uri)

    def log_system_metrics(self, run_id: str, interval: float, *, resume: bool = False) -> None:
        """MLflow's system metrics of this machine (CPU, memory, disk, network; GPUs through
        nvidia-ml-py) sampled into ``run_id`` every ``interval`` seconds until ``end_run``
        ends it here; ``resume`` continues the steps a reopened run has. Once per run."""
        if run_id not in self._system_metrics:
            monitor = compat.start_system_metrics(run_id, self.uri, interval, resume)
            if monitor is not None:
                self._system_metrics[run_id] = monitor

    def reopen_run(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def end_run(self, run_id: str, status: str) -> None:
        """Stop its system metrics, wait for pending async metrics, then end the run FINISHED,
        FAILED or KILLED."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)} but got {status!r}.")
        try:
            if (monitor := self._system_metrics.pop(run_id, None)) is not None:
                compat.stop_system_metrics(monitor)
            self.flush()
        finally:
            compat.end_run(self.client, run_id, status)

    @contextmanager
    def ending(self, run_id: str) -> Iterator[str]:
        """End ``run_id`` however the block ends: FINISHED; KILLED on Ctrl-C or SIGTERM; else
        FAILED with the exception in tag ``error``. The run never stays RUNNING."""
        status = "FAILED"
        try:
            yield run_id
            status = "FINISHED"
        except (KeyboardInterrupt, Terminated):
            status = "KILLED"
            raise
        except BaseException as error:
            self.set_tags(run_id, {T.ERROR: f"{type(error).__name__}: {error}"[:5000]})
            raise
        finally:
            self.end_run(run_id, status)

    def get_run(self, run_id: str) -> RunRecord:
        return _record(self.client.get_run(run_id))

    def run_status(self, run_id: str) -> str | None:
        """RUNNING, FINISHED, FAILED or KILLED; None when the run is not in this store."""
        try:
            return str(self.client.get_run(run_id).info.status)
        except MlflowException:
            return None

    def run_is_active(self, run_id: str) -> bool:
        """The run exists in this tracking store and is not deleted."""
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            return False

    def find_runs(self, tags: Mapping[str, str], *, max_results: int = 1000) -> list[RunRecord]:
        """Runs of the current experiment carrying every tag in ``tags``, oldest first."""
        where = " and ".join(f"tags.`{k}` = {quoted(v)}" for k, v in tags.items())
        found = self.client.search_runs(
            [self.experiment_id()],
            filter_string=where,
            order_by=["attributes.start_time ASC"],
            max_results=max_results,
        )
        return [_record(run) for run in found]

    # --- params, metrics, tags -------------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Params in batches, skipping those already on the run.

        ``mlflow run`` logs the entry point's parameters itself (empty strings as ``''``); MLflow
        refuses to change a param, so ours would fail for the same value written differently.
        """
        existing = self.client.get_run(run_id).data.params
        new = [Param(k, redact(param_text(v))) for k, v in params.items() if k not in existing]
        for start in range(0, len(new), BATCH):
            self.client.log_batch(run_id, params=new[start : start + BATCH])

    def log_epoch(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """One epoch's metrics at ``step``, asynchronously (waited for by ``flush``)."""
        batch = [Metric(k, float(v), now_ms(), step) for k, v in metrics.items()]
        self._pending.append(self.client.log_batch(run_id, metrics=batch, synchronous=False))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        for operation in pending:
            if operation is not None:
                operation.wait()

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        timestamp = now_ms()
        batch = [Metric(k, float(v), timestamp, step) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        batch = [RunTag(k, redact(str(v))) for k, v in tags.items()]
        if batch:
            self.client.log_batch(run_id, tags=batch)

    def set_description(self, run_id: str, text: str) -> None:
        """The run's description in the MLflow UI (Markdown)."""
        self.set_tags(run_id, {MLFLOW_RUN_NOTE: text})

    def description(self, run_id: str) -> str:
        return str(self.client.get_run(run_id).data.tags.get(MLFLOW_RUN_NOTE, ""))

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        return [
            MetricPoint(m.key, float(m.value), int(m.step), int(m.timestamp))
            for m in self.client.get_metric_history(run_id, key)
        ]


def quiet_mlflow_info() -> None:
    """``QUIET_LOGGERS`` at WARNING, those whose level nobody set (NOTSET) only."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _record(run: Run) -> RunRecord:
    return RunRecord(
        run_id=run.info.run_id,
        name=str(run.info.run_name or ""),
        experiment_id=str(run.info.experiment_id),
        status=str(run.info.status),
        params=run.data.params,
        metrics=run.data.metrics,
        tags=run.data.tags,
    )
