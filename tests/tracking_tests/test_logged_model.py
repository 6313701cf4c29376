"""What a logged model says it takes, for models logged now and for versions logged before.

Small real Keras models logged into the test's SQLite store: with ``log_keras`` (the metadata
says what the model takes), and the way versions were logged before it (``mlflow.tensorflow``
with a float32 tensor signature or one float64 column per CSV feature, probabilities out).
"""

from __future__ import annotations

import keras
import mlflow
import mlflow.tensorflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

from tracking.data.datasets import Dataset
from tracking.door.models import pip_requirements
from tracking.door.tracker import Tracker
from tracking.model.scaling import Scaling
from tracking.preflight.inputs import ModelInputs, class_values
from tracking.run.scoring import score_loaded


def test_class_values_are_the_labels_as_the_data_held_them() -> None:
    assert class_values([str(d) for d in range(10)]) == list(range(10))  # digits, MNIST
    assert class_values(["3", "4", "8"]) == [3, 4, 8]  # a numeric CSV label
    assert class_values(["0.5", "1.5"]) == [0.5, 1.5]
    assert class_values(["bad", "good"]) == ["bad", "good"]
    assert class_values(["1", "x"]) == ["1", "x"]  # mixed: pandas reads text


def _model(n_inputs: int, n_classes: int) -> keras.Model:
    model = keras.Sequential([keras.Input((n_inputs,)), keras.layers.Dense(n_classes, "softmax")])
    return model


def _old_style(model: keras.Model, inputs: Schema, example: object) -> str:
    """A version as the project logged it before: MLflow's tensorflow pyfunc, probabilities."""
    with mlflow.start_run():
        info = mlflow.tensorflow.log_model(
            model,
            name="model",
            signature=ModelSignature(inputs, Schema([TensorSpec(np.dtype("float32"), (-1, 3))])),
            input_example=example,
            pip_requirements=pip_requirements(),
            metadata={"class_names": ["a", "b", "c"]},
        )
    return str(info.model_uri)


def test_model_facts_read_the_metadata_now_and_the_signature_before() -> None:
    rows = np.zeros((2, 4), np.float32)
    tracker = Tracker()
    run_id = tracker.create_run("now")
    frame = pd.DataFrame(rows, columns=["w", "x", "y", "z"])
    now = tracker.log_model(run_id, _model(4, 3), frame, class_names=["a", "b", "c"])
    inputs, metadata = tracker.model_facts(now)
    assert inputs == ModelInputs(("w", "x", "y", "z"), 4)
    assert metadata["input"]["shape"] == [4] and metadata["classes"] == ["a", "b", "c"]
    assert inputs.describe() == "rows with 4 named columns (w, x, y, z), any int or float dtype"

    tensor = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])
    inputs, _ = tracker.model_facts(_old_style(_model(4, 3), tensor, rows))
    assert inputs == ModelInputs((), 4, "float32")
    assert inputs.describe() == "a float32 tensor of 4 raw pixel values per row"
    named = Schema([TensorSpec(np.dtype("float64"), (-1, 1), c) for c in "wxyz"])
    frame = pd.DataFrame(rows.astype(np.float64), columns=list("wxyz"))
    inputs, _ = tracker.model_facts(_old_style(_keras_with_named_inputs(), named, frame))
    assert inputs == ModelInputs(("w", "x", "y", "z"), 4, "float64")


def _keras_with_named_inputs() -> keras.Model:
    """The named-input Keras model that CSV versions were logged as before."""
    inputs = {c: keras.Input((1,), name=c) for c in "wxyz"}
    joined = keras.layers.Concatenate()(list(inputs.values()))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(joined))


def test_older_versions_are_still_scored_from_their_probabilities() -> None:
    tensor = Schema([TensorSpec(np.dtype("float32"), (-1, 4))])
    x = np.eye(4, dtype=np.float32)[:3]
    uri = _old_style(_model(4, 3), tensor, x)
    model = Tracker().load_model(uri)
    assert not model.takes_params  # no switch: probabilities by default
    y = np.array([0, 1, 2])
    empty = np.zeros((0, 4), np.float32)
    dataset = Dataset(name="t", source="t", x_train=empty, y_train=y[:0], x_val=empty,
                      y_val=y[:0], x_test=x, y_test=y, class_names=("a", "b", "c"),
                      scaling=Scaling(np.zeros(4, np.float32), np.ones(4, np.float32)))  # fmt: skip
    expected = np.asarray(model.predict(x)).argmax(axis=1) == y
    score = score_loaded(model, dataset)
    assert score.metrics["test_accuracy"] == pytest.approx(float(expected.mean()))
    assert np.isfinite(score.metrics["test_loss"])


@pytest.mark.parametrize("example", ["rows", "frame"])
def test_what_a_tracker_wrote_it_reads_without_a_download_and_the_same(example: str) -> None:
    # The model card's reads (what the model takes, the model summary) of a model and a text
    # this Tracker logged come from its memory: the same as a fresh Tracker reads from the files.
    rows = np.zeros((2, 4), np.float32)
    data = pd.DataFrame(rows, columns=["w", "x", "y", "z"]) if example == "frame" else rows
    tracker = Tracker()
    run_id = tracker.create_run("remembered")
    uri = tracker.log_model(run_id, _model(4, 3), data, class_names=["a", "b", "c"])
    tracker.log_text(run_id, "Model: one dense layer", "model_summary.txt")
    fresh = Tracker()
    assert tracker.model_facts(uri) == fresh.model_facts(uri)
    assert tracker.artifact_text(run_id, "model_summary.txt") == "Model: one dense layer"
    assert fresh.artifact_text(run_id, "model_summary.txt") == "Model: one dense layer"
