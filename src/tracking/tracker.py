"""The one door to MLflow: everything the project writes to or reads from MLflow goes through here.

One ``MlflowClient`` per ``Tracker``; runs are addressed by id everywhere (MLflow's "active run"
is thread-local, so nothing here relies on it). Per-epoch metrics are logged asynchronously and
waited for when the run ends; everything else goes in batches (``log_batch``). MLflow's own tags
are named with its constants (``mlflow.utils.mlflow_tags``), the project's in ``tracking.tags``.
Callbacks, training and the sweep receive a Tracker; none of them creates a client.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version as installed
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import mlflow
from mlflow import MlflowClient
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag, Metric, Param, Run, RunStatus, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from tracking import tags as T
from tracking.inputs import ModelInputs
from tracking.params import param_text
from tracking.redact import redact

if TYPE_CHECKING:
    import keras
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from tracking.data import Dataset

log = logging.getLogger(__name__)
BATCH = 100  # MLflow's limit of params per log_batch call
RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler, so runs end KILLED, not RUNNING."""


def now_ms() -> int:
    return int(time.time() * 1000)


class Tracker:
    """Where a run's params, metrics, tags, artifacts, model and registry versions go."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        self.client = MlflowClient(tracking_uri)
        self._pending: list[Any] = []  # async metric batches not yet written

    # --- runs -----------------------------------------------------------------------------

    @staticmethod
    def launcher_run_id() -> str | None:
        """The run ``mlflow run`` opened for this command, if any (``MLFLOW_RUN_ID``)."""
        return os.environ.get("MLFLOW_RUN_ID") or None

    def experiment_id(self) -> str:
        """Where new runs go: MLFLOW_EXPERIMENT_ID/NAME, `mlflow run`'s experiment, or Default."""
        return str(mlflow.tracking.fluent._get_experiment_id() or "0")

    def create_run(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> str:
        """A new RUNNING run; a child of ``parent_run_id`` (in its experiment) when given."""
        tags = dict(tags or {})
        if parent_run_id:
            experiment_id = self.client.get_run(parent_run_id).info.experiment_id
            tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
        else:
            experiment_id = self.experiment_id()
        return self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id

    def start_run(self, name: str, *, tags: Mapping[str, str] | None = None) -> str:
        """The run of this command: the one ``mlflow run`` opened (renamed), or a new one."""
        launcher = self.launcher_run_id()
        if launcher is None:
            return self.create_run(name, tags=tags)
        self.rename_run(launcher, name)
        self.set_tags(launcher, tags or {})
        return launcher

    def rename_run(self, run_id: str, name: str) -> None:
        self.client.update_run(run_id, name=name)

    def allow_concurrent_writers(self) -> None:
        """Several processes will write to this store at once: a SQLite file gets write-ahead
        logging (kept in the file), so that readers never block the writer."""
        uri = self.client.tracking_uri
        path = uri.removeprefix("sqlite:///").split("?")[0] if uri.startswith("sqlite:///") else ""
        if path and path != ":memory:":
            with sqlite3.connect(path, timeout=60) as connection:
                connection.execute("PRAGMA journal_mode=WAL")

    def reopen_run(self, run_id: str) -> None:
        self.client.update_run(run_id, status="RUNNING")

    def end_run(self, run_id: str, status: str) -> None:
        """Wait for pending async metrics, then end the run FINISHED, FAILED or KILLED."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)} but got {status!r}.")
        try:
            self.flush()
        finally:
            self._terminate(run_id, status)

    def _terminate(self, run_id: str, status: str) -> None:
        """``set_terminated`` without its shutdown of MLflow's async logging queue: once our
        batches are flushed, that shutdown only waits for the idle logging thread's 1-second
        poll (``queue.get(timeout=1)``), 0.7-0.9 s per run (benchmarks/overhead.py). The status
        and end time are written as ``set_terminated`` writes them."""
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if store is None or not hasattr(store, "update_run_info"):
            self.client.set_terminated(run_id, status=status)
            return
        store.update_run_info(
            run_id, run_status=RunStatus.from_string(status), end_time=now_ms(), run_name=None
        )

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

    def get_run(self, run_id: str) -> Run:
        return self.client.get_run(run_id)

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

    def find_runs(self, tags: Mapping[str, str], *, max_results: int = 1000) -> list[Run]:
        """Runs of the current experiment carrying every tag in ``tags``, oldest first."""
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        return list(
            self.client.search_runs(
                [self.experiment_id()],
                filter_string=where,
                order_by=["attributes.start_time ASC"],
                max_results=max_results,
            )
        )

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

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        return list(self.client.get_metric_history(run_id, key))

    # --- artifacts ---------------------------------------------------------------------------

    def log_text(self, run_id: str, text: str, path: str) -> None:
        self.client.log_text(run_id, text, path)

    def artifact_text(self, run_id: str, path: str) -> str:
        """A text artifact of the run; "" when it has none at ``path``."""
        with tempfile.TemporaryDirectory() as folder:
            try:
                local = self.client.download_artifacts(run_id, path, dst_path=folder)
                with open(local, encoding="utf-8") as f:
                    return f.read()
            except (MlflowException, OSError):
                return ""

    def log_dict(self, run_id: str, data: Mapping[str, Any], path: str) -> None:
        self.client.log_text(run_id, json.dumps(data, indent=2), path)

    def log_table(self, run_id: str, frame: pd.DataFrame, path: str) -> None:
        """A DataFrame as CSV (readable in the UI's artifact view)."""
        self.client.log_text(run_id, frame.to_csv(index=False), path)

    def log_figure(self, run_id: str, figure: Figure, path: str, **save_kwargs: Any) -> None:
        """A matplotlib figure as PNG; a pyplot figure is closed afterwards."""
        try:
            self.client.log_figure(run_id, figure, path, save_kwargs=save_kwargs or None)
        finally:
            if figure.canvas.manager is not None:  # made by pyplot: release it
                plt.close(figure)

    def log_dataset_inputs(self, run_id: str, dataset: Dataset) -> None:
        """The three splits as dataset inputs (context training / validation / testing)."""
        inputs = []
        for split, context, x, y in dataset.splits():
            if len(x) == 0:
                continue
            ds = from_numpy(x, targets=y, name=f"{dataset.name}-{split}")
            context_tag = [InputTag("mlflow.data.context", context)]
            inputs.append(DatasetInput(dataset=ds._to_mlflow_entity(), tags=context_tag))
        self.client.log_inputs(run_id, datasets=inputs)

    def log_model(
        self,
        run_id: str,
        model: keras.Model,
        example: np.ndarray | pd.DataFrame,
        *,
        class_names: Sequence[str],
        label: str = "",
    ) -> str:
        """The whole predictor as artifact ``model`` of ``run_id``; its model URI.

        ``example``: raw rows, a DataFrame for a CSV model (its columns are what the model
        takes by name). It predicts the ``class_names`` (labels by default, probabilities one
        switch away) or, without classes, one number in the units of the column ``label``;
        see ``tracking.logged_model``. Explicit pip pins save about 12 s of requirement
        inference per call.
        """
        from tracking.logged_model import log_keras

        return log_keras(
            run_id,
            model,
            example[:5],
            class_names=class_names,
            label=label,
            pip_requirements=pip_requirements(),
        )

    def model_facts(self, model_uri: str) -> tuple[ModelInputs | None, dict[str, Any]]:
        """What a logged or registered model takes (None: it does not say) and its metadata
        (``class_names``, ``classes``); see ``tracking.logged_model.model_facts``."""
        from tracking.logged_model import model_facts

        return model_facts(model_uri)

    # --- registry ------------------------------------------------------------------------------

    def register(
        self, model_uri: str, name: str, *, run_id: str, tags: Mapping[str, str] | None = None
    ) -> str:
        """Register ``model_uri`` as a new version of ``name``; tag the run with it; the version."""
        version = mlflow.register_model(model_uri, name, tags=dict(tags or {}))
        if version.run_id != run_id:  # the logged model knows its run; make sure the version does
            log.warning(
                "registered version %s has run_id %s, not %s",
                version.version,
                version.run_id,
                run_id,
            )
        self.set_tags(run_id, {T.REGISTERED_MODEL_VERSION: f"{name}/{version.version}"})
        log.info("registered %s version %s from run %s", name, version.version, run_id)
        return str(version.version)

    def latest_version(self, name: str) -> str | None:
        """The highest version number of registered model ``name``; None when it has none."""
        found = self.client.search_model_versions(
            f"name = '{name}'", max_results=1, order_by=["version_number DESC"]
        )
        return str(found[0].version) if found else None

    def describe_version(self, name: str, version: str, text: str) -> None:
        self.client.update_model_version(name, version, description=text)

    def model_description(self, name: str) -> str:
        return str(self.client.get_registered_model(name).description or "")

    def describe_model(self, name: str, text: str) -> None:
        self.client.update_registered_model(name, description=text)

    def versions_of_run(self, name: str, run_id: str) -> list[str]:
        found = self.client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        return sorted((str(v.version) for v in found), key=int)

    def alias_version(self, name: str, alias: str) -> ModelVersion | None:
        """The version ``alias`` points at, or None when the alias (or the model) is not set."""
        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)


def pip_requirements() -> list[str]:
    """Exact pins of what the logged model needs to load."""
    return [
        f"tensorflow-cpu=={installed('tensorflow-cpu')}",
        f"keras=={installed('keras')}",
        f"mlflow=={installed('mlflow')}",
        f"numpy=={installed('numpy')}",
        f"pandas=={installed('pandas')}",
    ]
