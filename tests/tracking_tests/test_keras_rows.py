"""The logged model's python_function wrapper on a small real Keras model, without MLflow runs.

The Keras model multiplies its input by fixed weights, so every expected label is known: the
class of a row is the index of its largest weighted value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from tracking.model.keras_rows import KerasRows

COLUMNS = ["alcohol", "pH", "od280/od315"]


def keras_model(n_inputs: int, n_outputs: int) -> object:
    """A Dense layer with identity-like weights: output j is input j (then softmax)."""
    import keras

    model = keras.Sequential([keras.Input((n_inputs,)), keras.layers.Dense(n_outputs)])
    weights = np.eye(n_inputs, n_outputs, dtype=np.float32) * 10
    model.layers[0].set_weights([weights, np.zeros(n_outputs, np.float32)])
    return model


@pytest.fixture(scope="module")
def csv_model() -> KerasRows:
    metadata = {
        "classes": ["bad", "good", "great"],
        "input": {"columns": COLUMNS, "shape": [3], "dtype": "float32"},
    }
    return KerasRows(keras_model(3, 3), metadata)


@pytest.fixture(scope="module")
def pixel_model() -> KerasRows:
    metadata = {"classes": [3, 4, 5, 6], "input": {"shape": [4], "dtype": "float32"}}
    return KerasRows(keras_model(4, 4), metadata)


def test_csv_columns_are_taken_by_name_in_any_order(csv_model: KerasRows) -> None:
    frame = pd.DataFrame(
        {"od280/od315": [0, 0, 9], "label": ["x", "y", "z"], "alcohol": [5, 0, 0], "pH": [0, 7, 1]}
    )
    # The label column is ignored; the largest of alcohol, pH, od280/od315 wins.
    assert csv_model.predict(frame).tolist() == ["bad", "good", "great"]
    # Records, a dict of columns, one row as a Series, an array in the model's column order.
    assert csv_model.predict(frame.to_dict(orient="records")).tolist() == ["bad", "good", "great"]
    assert csv_model.predict({c: frame[c].tolist() for c in frame}).tolist()[2] == "great"
    assert csv_model.predict(frame.iloc[1]).tolist() == ["good"]
    assert csv_model.predict(frame[COLUMNS].to_numpy()).tolist() == ["bad", "good", "great"]


def test_any_numeric_dtype_and_shape_of_as_many_values(pixel_model: KerasRows) -> None:
    rows = np.array([[9, 0, 0, 0], [0, 0, 0, 9], [0, 9, 0, 0]])
    for dtype in (np.uint8, np.int16, np.int64, np.float16, np.float64, bool):
        got = pixel_model.predict(rows.astype(dtype))
        assert got.tolist() == [3, 6, 4], dtype
    # 2 x 2 "images", a list, a DataFrame (positional), one row without the first axis.
    assert pixel_model.predict(rows.reshape(3, 2, 2)).tolist() == [3, 6, 4]
    assert pixel_model.predict(rows.tolist()).tolist() == [3, 6, 4]
    assert pixel_model.predict(pd.DataFrame(rows, columns=list("wxyz"))).tolist() == [3, 6, 4]
    assert pixel_model.predict(rows[1].reshape(2, 2)).tolist() == [6]
    # Numbers written as text are numbers.
    assert pixel_model.predict(rows.astype(str)).tolist() == [3, 6, 4]
    # No rows, no call to Keras: an empty answer.
    assert pixel_model.predict(np.zeros((0, 4))).tolist() == []


def test_probabilities_one_switch_away(pixel_model: KerasRows) -> None:
    frame = pd.DataFrame([[9, 0, 0, 0]], index=[7])
    probabilities = pixel_model.predict(frame, params={"output": "probabilities"})
    # One column per class name, the input's index kept, softmax-free Dense outputs here.
    assert list(probabilities.columns) == ["3", "4", "5", "6"]
    assert list(probabilities.index) == [7]
    assert probabilities.to_numpy().argmax() == 0


@pytest.mark.parametrize(
    ("rows", "params", "said"),
    [
        (pd.DataFrame({"alcohol": [1], "pH": [2]}), None, "missing column 'od280/od315'"),
        (pd.DataFrame({"alcohol;pH;od280/od315": ["1;2;3"]}), None, "separated by ';' or tabs"),
        (pd.DataFrame({c: ["x"] for c in COLUMNS}), None, "column 'alcohol' holds values"),
        (np.zeros((2, 4)), None, "got 4 values per row (rows of shape (4,)); the model takes 3"),
        ([[1, 2], [3]], None, "could not read the rows as an array"),
        (np.zeros((1, 3)), {"output": "odds"}, "params output='odds' is not one of labels"),
        (np.zeros((1, 3), "complex64"), None, "the input holds values that are not numbers"),
        (
            pd.DataFrame({"alcohol": [1, 2], "pH": [3, None], "od280/od315": [1, 1]}),
            None,
            "missing values (NaN) in 1 row(s), the first at position 1, in column 'pH'",
        ),
    ],
)
def test_bad_input_is_invalid_parameter_value_naming_it(
    csv_model: KerasRows, rows: object, params: dict[str, str] | None, said: str
) -> None:
    with pytest.raises(MlflowException) as raised:
        csv_model.predict(rows, params=params)
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert said in raised.value.message, raised.value.message


def test_a_regressor_returns_one_number_per_row_and_has_no_probabilities() -> None:
    regressor = KerasRows(keras_model(2, 1), {"task": "regression", "input": {"shape": [2]}})
    assert regressor.predict([[1.5, 7.0], [2.0, 0.0]]).tolist() == [15.0, 20.0]
    with pytest.raises(MlflowException, match="this model is a regressor"):
        regressor.predict([[1, 2]], params={"output": "probabilities"})
