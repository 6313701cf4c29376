"""A Keras model logged for every MLflow client, and what a logged model says it takes.

``log_keras`` saves the model with MLflow's ``tensorflow`` flavour (``mlflow.tensorflow.load_model``
gives the Keras model back) and a ``python_function`` flavour whose loader is
``tracking.model.keras_rows``, shipped with the model as code: ``mlflow.pyfunc``, ``mlflow models
predict``, ``mlflow models serve`` and ``mlflow.models.evaluate`` all go through it. The
signature declares no input (MLflow enforces nothing and passes rows through; what the model
takes is in its metadata, ``input``), the output (a label or a number per row) and, for a
classifier, the ``output`` param that switches to probabilities.

The model is logged with the client it is given (``Tracker``'s), never MLflow's process-wide
tracking URI: a logged model entity of the run, its files, its READY status, all in one store.
``model_facts`` reads what a logged or registered model takes: from that metadata, or from the
signature of a version logged before it (a tensor or one column per CSV feature, one dtype).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient, pyfunc
from mlflow.artifacts import download_artifacts
from mlflow.entities import LoggedModelOutput, LoggedModelStatus
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from tracking import compat
from tracking.model import keras_rows
from tracking.model.build import EagerModel
from tracking.preflight.inputs import ModelInputs, class_values

__all__ = [
    "class_values",
    "facts_of_metadata",
    "log_keras",
    "model_facts",
    "model_metadata",
    "save_model",
    "signature",
]

PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
LOADER = "keras_rows"  # the loader module's name inside the model (code/keras_rows.py)
log = logging.getLogger(__name__)


def model_metadata(
    model: Any, columns: Sequence[str], class_names: Sequence[str], label: str
) -> dict[str, Any]:
    """What the logged model takes and returns: ``input`` (``columns`` by name, the per-row
    ``shape`` and the ``dtype`` the Keras model takes), ``classes`` and ``class_names`` of a
    classifier, or ``label`` (the number's name) of a regressor."""
    tensor = model.inputs[0]
    described: dict[str, Any] = {
        "shape": [None if d is None else int(d) for d in tensor.shape[1:]],
        "dtype": str(np.dtype(getattr(tensor.dtype, "name", tensor.dtype))),
        "accepts": "any int or float dtype: numpy, pandas, lists, dicts",
    }
    if columns:
        described = {"columns": [str(c) for c in columns], **described}
    if not class_names:
        return {"task": "regression", "label": label, "input": described}
    return {
        "task": "classification",
        "classes": class_values(class_names),
        "class_names": [str(c) for c in class_names],
        "input": described,
    }


def signature(metadata: dict[str, Any]) -> ModelSignature:
    """No input schema (``tracking.model.keras_rows`` checks the rows); the output, and for a
    classifier the switch ``output``: ``labels`` (default) or ``probabilities``."""
    if metadata["task"] == "regression":
        return ModelSignature(outputs=Schema([ColSpec("float")]))
    classes = metadata["classes"]
    kind = "long" if isinstance(classes[0], int) else "double"
    kind = "string" if isinstance(classes[0], str) else kind
    switch = ParamSpec(keras_rows.OUTPUT, "string", keras_rows.LABELS)
    return ModelSignature(outputs=Schema([ColSpec(kind)]), params=ParamSchema([switch]))


def log_keras(
    client: MlflowClient,
    run_id: str,
    model: Any,
    example: np.ndarray | pd.DataFrame,
    *,
    class_names: Sequence[str],
    label: str,
    pip_requirements: Sequence[str],
    reload_check: bool = True,
) -> str:
    """Log ``model`` as logged model ``model`` of ``run_id`` (``example``: raw rows, a DataFrame
    for a CSV model), all through ``client``; its model URI (``models:/<model id>``). What
    ``Model.log`` does, minus its process-wide client: the saved example is checked through the
    loader (a failure is logged, as MLflow logs it), around the model in memory and, with
    ``reload_check``, the model loaded back from its files."""
    columns = list(example.columns) if isinstance(example, pd.DataFrame) else []
    metadata = model_metadata(model, columns, class_names, label)
    run = client.get_run(run_id)
    logged = client.create_logged_model(
        run.info.experiment_id, name="model", source_run_id=run_id, params=run.data.params
    )
    try:
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        mlflow_model = Model(
            artifact_path=logged.artifact_location,
            model_uuid=logged.model_id,
            run_id=run_id,
            metadata=metadata,
            model_id=logged.model_id,
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model")
            save_model(
                path,
                mlflow_model,
                keras_model=model,
                input_example=example,
                signature=signature(metadata),
                pip_requirements=list(pip_requirements),
            )
            _check_serving_example(mlflow_model, path, model, reload=reload_check)
            client.log_model_artifacts(logged.model_id, path)
    except BaseException:
        client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
        raise
    client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    return f"models:/{logged.model_id}"


def _check_serving_example(mlflow_model: Model, path: str, model: Any, *, reload: bool) -> None:
    """The saved input example, parsed as a server parses it, predicts: through the loader's
    class around the model in memory; with ``reload``, also through the files as saved (what
    ``Model.log`` does: seconds, for a model whose own layers might not load back)."""
    serving_input = mlflow_model.get_serving_input(path)
    if serving_input is None:
        return
    in_memory = keras_rows.KerasRows(EagerModel(model), dict(mlflow_model.metadata or {}))
    try:
        checked = compat.check_serving_input_in_memory(mlflow_model, in_memory, serving_input)
        if reload or not checked:
            compat.check_serving_input(path, serving_input)
    except Exception as error:  # as Model.log: the model is logged, the problem said
        log.warning("the logged model's input example does not predict: %s", error)


def save_model(
    path: str,
    mlflow_model: Model,
    *,
    keras_model: Any,
    input_example: Any,
    signature: ModelSignature,
    pip_requirements: list[str],
) -> None:
    """What ``Model.log`` calls: MLflow's tensorflow flavour, then our python_function flavour
    in place of its own, and the signature described above."""
    import mlflow.tensorflow

    tensor = keras_model.inputs[0]
    shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    native = TensorSpec(np.dtype(getattr(tensor.dtype, "name", tensor.dtype)), (-1, *shape[1:]))
    mlflow.tensorflow.save_model(
        keras_model,
        path,
        mlflow_model=mlflow_model,
        code_paths=[keras_rows.__file__],
        signature=ModelSignature(Schema([native])),  # valid for the flavour; replaced below
        input_example=input_example,
        pip_requirements=pip_requirements,
    )
    theirs = mlflow_model.flavors.pop(pyfunc.FLAVOR_NAME)
    env = theirs.get(pyfunc.ENV, {})
    pyfunc.add_to_model(
        mlflow_model,
        loader_module=LOADER,
        code=theirs.get(pyfunc.CODE),
        conda_env=env.get("conda"),
        python_env=env.get("virtualenv"),
    )
    mlflow_model.signature = signature
    mlflow_model.save(os.path.join(path, "MLmodel"))


def storage_location(client: MlflowClient, model_uri: str) -> str:
    """Where the files of ``model_uri`` are, looked up with ``client``: a logged model
    (``models:/<id>``), a registered version (``models:/<name>/<version>``) or alias
    (``models:/<name>@<alias>``), each optionally followed by a path; other URIs as given.
    MLflow's own lookup of ``models:/`` URIs uses its process-wide registry URI."""
    if not model_uri.startswith("models:/"):
        return model_uri
    parts = model_uri.removeprefix("models:/").strip("/").split("/")
    if parts[0].startswith("m-"):
        location, path = client.get_logged_model(parts[0]).artifact_location, parts[1:]
    elif "@" in parts[0]:
        name, alias = parts[0].split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
        location, path = client.get_model_version_download_uri(name, version), parts[1:]
    else:
        version = parts[1]
        if not version.isdigit():  # "latest" or a stage name, read as MLflow reads them
            stages = None if version.lower() == "latest" else [version]
            with warnings.catch_warnings():  # stages are deprecated; "latest" is not
                warnings.simplefilter("ignore", FutureWarning)
                found = client.get_latest_versions(parts[0], stages)
            if not found:
                raise MlflowException(f"registered model {parts[0]!r} has no {version} version")
            version = str(max(int(v.version) for v in found))
        location = client.get_model_version_download_uri(parts[0], version)
        path = parts[2:]
    return "/".join([location.rstrip("/"), *path])


@contextmanager
def no_progress_bar() -> Iterator[None]:
    """No "Downloading artifacts" bar on stderr for the block (MLflow reads this variable when
    it downloads): what a model takes is read before training, where one line is the output."""
    before = os.environ.get(PROGRESS_BAR)
    os.environ[PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = before


def download_model(
    client: MlflowClient, model_uri: str, directory: str, *, tracking_uri: str, registry_uri: str
) -> str:
    """The files of ``model_uri`` (run, logged model, registry version or alias) resolved with
    ``client`` and downloaded into ``directory``; their local path."""
    with no_progress_bar():
        return download_artifacts(
            artifact_uri=storage_location(client, model_uri),
            dst_path=directory,
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
        )


def model_facts(
    client: MlflowClient, model_uri: str, *, tracking_uri: str, registry_uri: str
) -> tuple[ModelInputs | None, dict[str, Any]]:
    """What a logged or registered model takes (None: it does not say) and its metadata."""
    with tempfile.TemporaryDirectory() as tmp, no_progress_bar():
        path = download_artifacts(
            artifact_uri=f"{storage_location(client, model_uri)}/MLmodel",
            dst_path=tmp,
            tracking_uri=tracking_uri,
            registry_uri=registry_uri,
        )
        info = Model.load(path)
    metadata = dict(info.metadata or {})
    if isinstance(metadata.get("input"), dict):
        return facts_of_metadata(metadata)
    if info.signature is None or info.signature.inputs is None:
        return None, metadata
    schema = info.signature.inputs  # a version logged before keras_rows: one dtype enforced
    dtype = str(schema.inputs[0].type) if schema.is_tensor_spec() else ""
    names = tuple(str(n) for n in schema.input_names()) if schema.has_input_names() else ()
    if names and not (schema.is_tensor_spec() and len(names) == 1):
        return ModelInputs(names, len(names), dtype), metadata
    shape = schema.inputs[0].shape if schema.is_tensor_spec() else (-1, len(names))
    return ModelInputs((), int(math.prod(d for d in shape[1:] if d > 0)), dtype), metadata


def facts_of_metadata(metadata: dict[str, Any]) -> tuple[ModelInputs | None, dict[str, Any]]:
    """What a model logged by ``log_keras`` takes, read from its metadata's ``input``."""
    described = metadata.get("input")
    if not isinstance(described, dict):
        return None, metadata
    columns = tuple(str(c) for c in described.get("columns", ()))
    shape = tuple(int(d or 0) for d in described.get("shape", ()))
    image = shape if len(shape) > 1 else ()  # rows need no shape to be described
    return ModelInputs(columns, math.prod(d or 1 for d in shape), shape=image), metadata
