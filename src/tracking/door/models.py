"""The models side of the MLflow door (``tracking.door.tracker.Tracker``): logging a Keras model,
loading any model URI, MLflow's evaluation, the Model Registry and its aliases.

Everything goes through the Tracker's client and its tracking and registry URIs, so a Tracker
made with another URI than MLflow's process-wide one keeps a run, its model and its registered
versions in one store. MLflow's objects stay here: callers get ``tracking.door.records`` types.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    ALREADY_EXISTS,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    ErrorCode,
)

from tracking import compat
from tracking.config import tags as T
from tracking.config.errors import ModelUnavailable
from tracking.door.records import LoadedModel, VersionRecord
from tracking.preflight.inputs import ModelInputs

if TYPE_CHECKING:
    import keras
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)
EXISTS = {ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)}


class ModelsDoor:
    """What ``Tracker`` does with models: log, load, evaluate, register, alias."""

    client: MlflowClient
    uri: str
    registry_uri: str
    _logged_metadata: dict[str, dict[str, Any]]  # model URI -> metadata, of the last logged here

    def log_model(
        self,
        run_id: str,
        model: keras.Model,
        example: np.ndarray | pd.DataFrame,
        *,
        class_names: Sequence[str],
        label: str = "",
        reload_check: bool = True,
    ) -> str:
        """The whole predictor as logged model ``model`` of ``run_id``; its model URI.

        ``example``: raw rows, a DataFrame for a CSV model (its columns are what the model
        takes by name). It predicts the ``class_names`` (labels by default, probabilities one
        switch away) or, without classes, one number in the units of the column ``label``;
        see ``tracking.door.logged_model``. Explicit pip pins save the requirement inference.
        ``reload_check``: its input example is also predicted by the model loaded back from its
        files (else only by the model in memory, in the same loader class).
        """
        from tracking.door.artifacts import remember
        from tracking.door.logged_model import log_keras, model_metadata

        uri = log_keras(
            self.client,
            run_id,
            model,
            example[:5],
            class_names=class_names,
            label=label,
            pip_requirements=pip_requirements(),
            reload_check=reload_check,
        )
        columns = list(getattr(example, "columns", []))
        remember(self._logged_metadata, uri, model_metadata(model, columns, class_names, label))
        return uri

    def model_facts(self, model_uri: str) -> tuple[ModelInputs | None, dict[str, Any]]:
        """What a logged or registered model takes (None: it does not say) and its metadata
        (``class_names``, ``classes``); see ``tracking.door.logged_model.model_facts``. A model
        this Tracker logged lately is not downloaded back: its metadata is what it wrote."""
        from tracking.door.logged_model import facts_of_metadata, model_facts

        if model_uri in self._logged_metadata:
            return facts_of_metadata(self._logged_metadata[model_uri])
        return model_facts(
            self.client, model_uri, tracking_uri=self.uri, registry_uri=self.registry_uri
        )

    def load_model(self, model_uri: str) -> LoadedModel:
        """``model_uri`` (``runs:/``, ``models:/<id>``, a version or an alias) loaded with
        ``mlflow.pyfunc`` from this tracker's stores; ModelUnavailable when it cannot be."""
        from tracking.door.logged_model import download_model

        directory = tempfile.mkdtemp(prefix="model-")
        try:
            path = download_model(
                self.client,
                model_uri,
                directory,
                tracking_uri=self.uri,
                registry_uri=self.registry_uri,
            )
            model = mlflow.pyfunc.load_model(path)
        except (MlflowException, OSError) as error:
            text = str(error).strip()
            raise ModelUnavailable(
                text.splitlines()[0] if text else type(error).__name__
            ) from error
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # loaded: the files are not read again
        return LoadedModel(
            uri=model_uri,
            metadata=dict(model.metadata.metadata or {}),
            takes_params=model.metadata.get_params_schema() is not None,
            predict=model.predict,
            handle=model,
        )

    def log_evaluation(
        self, run_id: str, model: LoadedModel, data: Any, targets: Any, *, regression: bool
    ) -> dict[str, float]:
        """``mlflow.models.evaluate`` of ``model`` on ``data`` into ``run_id``; its metrics.
        MLflow's evaluator writes to the active run of the process-wide store: both are set to
        this tracker's for the call only (``tracking.compat.process_tracking_uri``).

        MLflow links the score to the logged model too, which a server with the basic-auth app
        allows only with EDIT on the model's experiment: a user who may only read it (a reader
        scoring ``@champion`` into an experiment of their own) gets the score in ``run_id``
        alone, the model evaluated as its predict function (nothing of the refused attempt
        was logged: MLflow asks for the link first)."""
        kind = "regressor" if regression else "classifier"
        with compat.process_tracking_uri(self.uri), mlflow.start_run(run_id=run_id):
            try:
                result = _evaluate(model.handle, data, targets, kind)
            except MlflowException as error:
                if error.error_code != ErrorCode.Name(PERMISSION_DENIED):
                    raise
                log.info("the score is not linked to %s: no EDIT on its experiment", model.uri)
                result = _evaluate(model.predict, data, targets, kind)
        return {k: float(v) for k, v in result.metrics.items()}

    def register(
        self, model_uri: str, name: str, *, run_id: str, tags: Mapping[str, str] | None = None
    ) -> str:
        """Register ``model_uri`` (logged in ``run_id``) as a new version of ``name``; tag the
        run with it; the version."""
        try:
            self.client.create_registered_model(name)
        except MlflowException as error:
            if error.error_code not in EXISTS:
                raise
        source, model_id = model_uri, None
        if model_uri.startswith("models:/m-"):  # a logged model: the version links to it
            model_id = model_uri.removeprefix("models:/")
            # its files' location, resolved here: MLflow's SQL registry store would look the
            # model up with a client on the process-wide URI (a TODO in its create_model_version)
            source = self.client.get_logged_model(model_id).artifact_location
        version = self.client.create_model_version(
            name, source, run_id=run_id, tags=dict(tags or {}), model_id=model_id
        )
        self.client.set_tag(run_id, T.REGISTERED_MODEL_VERSION, f"{name}/{version.version}")
        log.info("registered %s version %s from run %s", name, version.version, run_id)
        return str(version.version)

    def latest_version(self, name: str) -> str | None:
        """The highest version number of registered model ``name``; None when it has none."""
        found = self.client.search_model_versions(
            f"name = {quoted(name)}", max_results=1, order_by=["version_number DESC"]
        )
        return str(found[0].version) if found else None

    def versions_of_run(self, name: str, run_id: str) -> list[str]:
        where = f"name = {quoted(name)} and run_id = {quoted(run_id)}"
        return sorted((str(v.version) for v in self.client.search_model_versions(where)), key=int)

    def describe_version(self, name: str, version: str, text: str) -> None:
        self.client.update_model_version(name, version, description=text)

    def model_description(self, name: str) -> str:
        return str(self.client.get_registered_model(name).description or "")

    def describe_model(self, name: str, text: str) -> None:
        self.client.update_registered_model(name, description=text)

    def alias_version(self, name: str, alias: str) -> VersionRecord | None:
        """The version ``alias`` points at, or None when the alias (or the model) is not set."""
        try:
            return _version(self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)


def quoted(value: str) -> str:
    """``value`` as a string literal of an MLflow search filter. MLflow's filter parser takes
    no escapes: a value holding ``'`` is written in double quotes, and one holding both kinds of
    quote cannot be searched for (ValueError)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"{value!r} holds both ' and \" and cannot be searched for in MLflow")


def _version(found: ModelVersion) -> VersionRecord:
    return VersionRecord(str(found.name), str(found.version), str(found.run_id), str(found.source))


def pip_requirements() -> list[str]:
    """Exact pins of what the logged model needs to load."""
    try:  # served on a CPU: a GPU install (the `gpu` extra) has `tensorflow` instead
        tensorflow = installed("tensorflow-cpu")
    except PackageNotFoundError:
        tensorflow = installed("tensorflow")
    return [
        f"tensorflow-cpu=={tensorflow}",
        f"keras=={installed('keras')}",
        f"mlflow=={installed('mlflow')}",
        f"numpy=={installed('numpy')}",
        f"pandas=={installed('pandas')}",
    ]


def _evaluate(model: Any, data: Any, targets: Any, kind: str) -> Any:
    return mlflow.models.evaluate(
        model,
        data=data,
        targets=targets,
        model_type=kind,
        evaluator_config={"log_model_explainability": False},  # SHAP: not installed
    )
