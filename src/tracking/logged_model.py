"""A Keras model logged for every MLflow client, and what a logged model says it takes.

``log_keras`` saves the model with MLflow's ``tensorflow`` flavour (``mlflow.tensorflow.load_model``
gives the Keras model back) and a ``python_function`` flavour whose loader is
``tracking.keras_rows``, shipped with the model as code: ``mlflow.pyfunc``, ``mlflow models
predict``, ``mlflow models serve`` and ``mlflow.models.evaluate`` all go through it. The
signature declares no input (MLflow enforces nothing and passes rows through; what the model
takes is in its metadata, ``input``), the output (a label or a number per row) and, for a
classifier, the ``output`` param that switches to probabilities.

``model_facts`` reads what a logged or registered model takes: from that metadata, or from the
signature of a version logged before it (a tensor or one column per CSV feature, one dtype).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow import pyfunc
from mlflow.models import Model, ModelSignature, get_model_info
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from tracking import keras_rows
from tracking.inputs import ModelInputs

LOADER = "keras_rows"  # the loader module's name inside the model (code/keras_rows.py)


def class_values(class_names: Sequence[str]) -> list[int | float | str]:
    """The labels as the training data held them, from their names: all ints, all numbers, or
    all text (as pandas reads a label column back from a CSV; digits and MNIST are ints)."""
    names: list[int | float | str] = [str(n) for n in class_names]
    if names and all(re.fullmatch(r"[+-]?\d+", str(n)) for n in names):
        return [int(n) for n in names]
    try:
        return [float(n) for n in names]
    except ValueError:
        return names


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
    """No input schema (``tracking.keras_rows`` checks the rows); the output, and for a
    classifier the switch ``output``: ``labels`` (default) or ``probabilities``."""
    if metadata["task"] == "regression":
        return ModelSignature(outputs=Schema([ColSpec("float")]))
    classes = metadata["classes"]
    kind = "long" if isinstance(classes[0], int) else "double"
    kind = "string" if isinstance(classes[0], str) else kind
    switch = ParamSpec(keras_rows.OUTPUT, "string", keras_rows.LABELS)
    return ModelSignature(outputs=Schema([ColSpec(kind)]), params=ParamSchema([switch]))


def log_keras(
    run_id: str,
    model: Any,
    example: np.ndarray | pd.DataFrame,
    *,
    class_names: Sequence[str],
    label: str,
    pip_requirements: Sequence[str],
) -> str:
    """Log ``model`` as artifact ``model`` of ``run_id`` (``example``: raw rows, a DataFrame
    for a CSV model); its model URI. MLflow checks the saved example through the loader."""
    columns = list(example.columns) if isinstance(example, pd.DataFrame) else []
    metadata = model_metadata(model, columns, class_names, label)
    info = Model.log(
        None,  # artifact_path: deprecated for name
        name="model",
        flavor=sys.modules[__name__],  # save_model below
        flavor_name="tensorflow",
        run_id=run_id,
        metadata=metadata,
        keras_model=model,
        input_example=example,
        signature=signature(metadata),
        pip_requirements=list(pip_requirements),
    )
    return str(info.model_uri)


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


def model_facts(model_uri: str) -> tuple[ModelInputs | None, dict[str, Any]]:
    """What a logged or registered model takes (None: it does not say) and its metadata."""
    info = get_model_info(model_uri)
    metadata = dict(info.metadata or {})
    described = metadata.get("input")
    if isinstance(described, dict):
        columns = tuple(str(c) for c in described.get("columns", ()))
        shape = tuple(int(d or 0) for d in described.get("shape", ()))
        image = shape if len(shape) > 1 else ()  # rows need no shape to be described
        return ModelInputs(columns, math.prod(d or 1 for d in shape), shape=image), metadata
    if info.signature is None or info.signature.inputs is None:
        return None, metadata
    schema = info.signature.inputs  # a version logged before keras_rows: one dtype enforced
    dtype = str(schema.inputs[0].type) if schema.is_tensor_spec() else ""
    names = tuple(str(n) for n in schema.input_names()) if schema.has_input_names() else ()
    if names and not (schema.is_tensor_spec() and len(names) == 1):
        return ModelInputs(names, len(names), dtype), metadata
    shape = schema.inputs[0].shape if schema.is_tensor_spec() else (-1, len(names))
    return ModelInputs((), int(math.prod(d for d in shape[1:] if d > 0)), dtype), metadata
