"""MLflow's Python clients on registered models, with the data as users hold it (no cast).

Eight models (MNIST, digits, a CSV classifier, a CSV regression; each registered by `main` and
by `sweep`: tests/registered_models.py), loaded with ``mlflow.pyfunc`` and
``mlflow.tensorflow`` and scored by ``mlflow.models.evaluate``. What each client gets back is
compared with the native Keras model fed float32 by hand (``Reference``).
"""

from __future__ import annotations

import io
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from tests.registered_models import MODELS, Reference, Registered, Zoo, model_params

CLASSIFIERS = [m for m in MODELS if not m.startswith("diabetes")]


def _same(got: Any, expected: np.ndarray, regression: bool, what: str = "") -> None:
    got = np.asarray(got)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    if regression:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4, err_msg=what)
    else:
        assert got.tolist() == expected.tolist(), what  # labels, of the training data's type


def _forms(registered: Registered) -> dict[str, Any]:
    """The same rows in every form a user may hold them, no cast, no reshape."""
    data = registered.data
    if data.label:  # a CSV model: columns by name, in any order, the label ignored
        frame = data.rows
        features = data.features
        return {
            "DataFrame as read": frame,
            "columns reversed": frame[list(reversed(frame.columns))],
            "records": frame.to_dict(orient="records"),
            "dict of columns": {c: frame[c].to_numpy() for c in frame.columns},
            "float64 array": features.to_numpy(),
            "float32 array": features.to_numpy(np.float32),
            "list of rows": features.to_numpy().tolist(),
        }
    rows = data.rows  # uint8 images (MNIST) or float64 rows (digits)
    flat = rows.reshape(len(rows), -1)
    return {
        "as held": rows,
        "float64": rows.astype(np.float64),
        "float32": rows.astype(np.float32),
        "flat": flat,
        "with a channel axis": flat.reshape(len(rows), *rows.shape[1:], 1),
        "DataFrame": pd.DataFrame(flat),
        "list": rows.tolist(),
    }


@pytest.mark.parametrize("model_id", model_params())
def test_pyfunc_takes_rows_as_users_hold_them(zoo: Zoo, model_id: str) -> None:
    registered = zoo[model_id]
    reference = Reference(registered)
    model = mlflow.pyfunc.load_model(registered.uri)
    expected = reference()
    for form, rows in _forms(registered).items():
        _same(model.predict(rows), expected, registered.data.regression, form)
    # Every integer and float dtype gives what the same values give as float32.
    features = np.asarray(registered.data.features)
    for dtype in (np.uint8, np.int64, np.float64, np.float32):
        rows = features.astype(dtype)
        _same(model.predict(rows), reference(rows), registered.data.regression, str(dtype))
    # One row alone, without the first axis (a Series for a CSV model).
    one = registered.data.rows.iloc[0] if registered.data.label else registered.data.rows[0]
    _same(model.predict(one), expected[:1], registered.data.regression)


@pytest.mark.parametrize("model_id", model_params(CLASSIFIERS))
def test_probabilities_are_one_switch_away(zoo: Zoo, model_id: str) -> None:
    registered = zoo[model_id]
    model = mlflow.pyfunc.load_model(registered.uri)
    labels = model.predict(registered.data.rows)
    probabilities = model.predict(registered.data.rows, params={"output": "probabilities"})
    # One column per class, named as in the metadata, in the order of `classes`.
    metadata = model.metadata.metadata
    assert list(probabilities.columns) == metadata["class_names"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    best = np.asarray(metadata["classes"])[probabilities.to_numpy().argmax(axis=1)]
    assert best.tolist() == np.asarray(labels).tolist()
    # The switch is declared in the signature, labels by default.
    (switch,) = model.metadata.get_params_schema().params
    assert (switch.name, switch.default) == ("output", "labels")


def test_predict_prints_nothing(zoo: Zoo, capfd: pytest.CaptureFixture[str]) -> None:
    registered_models = [zoo["mnist-main"], zoo["wine-main"]]
    models = [mlflow.pyfunc.load_model(r.uri) for r in registered_models]
    keras.utils.enable_interactive_logging()  # as in a notebook: progress bars on
    capfd.readouterr()
    for model, registered in zip(models, registered_models, strict=True):
        model.predict(registered.data.rows)
        model.predict(registered.data.rows, params={"output": "probabilities"})
        model.predict(np.asarray(registered.data.features).astype(np.int64))
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out[-500:], err[-500:])


def _semicolons(frame: pd.DataFrame) -> pd.DataFrame:
    """A ';'-separated CSV read with pandas' default separator: one column."""
    return pd.read_csv(io.StringIO(frame.to_csv(sep=";", index=False)))


@pytest.mark.parametrize(
    ("model_id", "rows", "said"),
    [
        ("wine-main", lambda d: d.rows.drop(columns="alcohol"), "missing column 'alcohol'"),
        ("wine-main", lambda d: d.features.to_numpy()[:, :12], "the model takes 13 columns"),
        ("wine-main", lambda d: d.rows.assign(alcohol="strong"), "column 'alcohol' holds"),
        ("mnist-main", lambda d: d.rows[:, :27], "got 756 values per row (rows of shape (27, 28))"),
        ("digits-sweep", lambda d: [["eight"] + [0] * 63], "could not convert string"),
        ("diabetes-main", lambda d: _semicolons(d.rows), "separated by ';' or tabs"),
    ],
)
def test_bad_rows_are_refused_naming_the_problem(
    zoo: Zoo, model_id: str, rows: Any, said: str
) -> None:
    registered = zoo[model_id]
    model = mlflow.pyfunc.load_model(registered.uri)
    with pytest.raises(MlflowException) as raised:
        model.predict(rows(registered.data))
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert said in raised.value.message, raised.value.message


def test_a_regressor_has_no_probabilities(zoo: Zoo) -> None:
    model = mlflow.pyfunc.load_model(zoo["diabetes-main"].uri)
    assert model.metadata.get_params_schema() is None
    assert model.metadata.metadata["task"] == "regression"


def test_the_native_keras_flavour_still_loads(zoo: Zoo) -> None:
    import mlflow.tensorflow

    native = mlflow.tensorflow.load_model(zoo["digits-sweep"].uri)
    assert isinstance(native, keras.Model)
    assert native.predict(np.zeros((2, 64), np.float32), verbose=0).shape == (2, 10)


@pytest.mark.parametrize("model_id", model_params())
def test_mlflow_evaluate_runs_on_the_registered_model(zoo: Zoo, model_id: str) -> None:
    registered = zoo[model_id]
    data = registered.data
    model_type = "regressor" if data.regression else "classifier"
    if data.label:  # a DataFrame with its label column, as read
        rows, targets = data.rows, data.label
    else:  # MLflow's evaluator takes 2-D arrays: the images' pixels in a row
        rows, targets = data.rows.reshape(len(data.rows), -1), data.targets
    with mlflow.start_run() as run:
        result = mlflow.models.evaluate(
            registered.uri,
            data=rows,
            targets=targets,
            model_type=model_type,
            evaluator_config={"log_model_explainability": False},
        )
    predicted = np.asarray(mlflow.pyfunc.load_model(registered.uri).predict(data.rows))
    metrics = result.metrics
    assert metrics["example_count"] == len(data.rows)
    if data.regression:
        mae = float(np.mean(np.abs(predicted - data.targets)))
        assert metrics["mean_absolute_error"] == pytest.approx(mae, rel=1e-5)
        assert "r2_score" in metrics
    else:
        accuracy = float(np.mean(predicted == data.targets))
        assert metrics["accuracy_score"] == pytest.approx(accuracy)
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
        assert "confusion_matrix.png" in artifacts
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert set(metrics) <= set(logged)
