"""Regression pieces without MLflow: config rules, data, the model's output units, the test
metrics and the plots' numbers, each against answers computed independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig, validate
from tracking.data.datasets import load_dataset
from tracking.model.build import build_model
from tracking.model.scaling import Scaling
from tracking.preflight.sources import check_source
from tracking.report import charts
from tracking.report.curves import Curves
from tracking.report.regression import prediction_info
from tracking.run.scoring import score_numbers


@pytest.fixture
def diabetes_csv(tmp_path: Path) -> Path:
    """sklearn's diabetes data as a user's CSV: 10 feature columns, label `progression`."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def _config(path: Path, **overrides: object) -> TrainConfig:
    values = {"dataset": "csv", "data_path": str(path), "label_column": "progression"}
    return TrainConfig(**{**values, "task": "regression", **overrides})  # type: ignore[arg-type]


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "fix"),
    [
        ({"dataset": "digits"}, "task", "-P dataset=csv"),
        ({"dataset": "mnist"}, "task", "-P task=classification"),
        ({"monitor": "val_accuracy"}, "monitor", "-P monitor=val_mae"),
        ({"task": "classification", "loss": "mae"}, "loss", "-P task=regression"),
        ({"task": "classification", "monitor": "val_mae"}, "monitor", "-P monitor=val_accuracy"),
    ],
)
def test_parameters_that_do_not_fit_the_task_are_refused(
    diabetes_csv: Path, overrides: dict[str, object], name: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(_config(diabetes_csv, **overrides))
    assert caught.value.parameter == name and fix in str(caught.value)


@pytest.mark.parametrize("monitor", ["val_mae", "val_mse", "mae", "val_loss"])
def test_regression_monitors_are_minimised(diabetes_csv: Path, monitor: str) -> None:
    config = _config(diabetes_csv, monitor=monitor)
    validate(config)
    assert config.monitor_mode == "min"


@pytest.mark.parametrize(
    ("loss", "keras_loss"), [("auto", "mae"), ("mse", "mse"), ("huber", "huber")]
)
def test_the_loss_keras_compiles(diabetes_csv: Path, loss: str, keras_loss: str) -> None:
    assert _config(diabetes_csv, loss=loss).keras_loss == keras_loss
    assert TrainConfig().keras_loss == "sparse_categorical_crossentropy"


def test_a_text_label_is_refused_for_regression_only(tmp_path: Path) -> None:
    rows = "".join(f"{i},{i % 7},{'good' if i % 2 else 'bad'}\n" for i in range(40))
    path = tmp_path / "labels.csv"
    path.write_text("a,b,quality\n" + rows)
    with pytest.raises(ConfigError) as caught:
        check_source(TrainConfig(dataset="csv", data_path=str(path), task="regression"))
    message = str(caught.value)
    assert caught.value.parameter == "label_column" and "(e.g. 'bad')" in message
    assert "-P task=classification" in message
    check_source(TrainConfig(dataset="csv", data_path=str(path)))  # a classifier takes it


# --- data and model ----------------------------------------------------------------------------


def test_regression_labels_stay_numbers_in_their_units(diabetes_csv: Path) -> None:
    raw = pd.read_csv(diabetes_csv)
    ds = load_dataset(_config(diabetes_csv, validation_split=0.1))
    assert ds.regression and ds.class_names == () and ds.n_outputs == 1
    assert ds.y_train.dtype == np.float32
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == len(raw)
    all_labels = np.sort(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))
    np.testing.assert_allclose(all_labels, np.sort(raw["progression"].to_numpy()), rtol=1e-6)
    # the statistics come from the training rows only
    assert ds.label_mean == pytest.approx(float(np.mean(ds.y_train)), rel=1e-6)
    assert ds.label_std == pytest.approx(float(np.std(ds.y_train)), rel=1e-6)
    assert ds.label_name == "progression"
    assert ds.facts()["label_mean"] == ds.label_mean and "n_classes" not in ds.facts()


def test_the_model_answers_in_the_labels_units(diabetes_csv: Path) -> None:
    ds = load_dataset(_config(diabetes_csv))
    config = _config(diabetes_csv, hidden_units="8")
    scaling = Scaling(ds.offset, ds.divisor, label_mean=150.0, label_std=80.0)
    model = build_model(config, ds.n_features, 0, scaling)
    assert model.output_shape == (None, 1)
    dense = model.get_layer("output")
    kernel, bias = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.full_like(bias, 0.5)])
    # a standardised output of 0.5 is 150 + 0.5 * 80 in the label's units, for any row
    np.testing.assert_allclose(model.predict(ds.x_test[:4], verbose=0).ravel(), 190.0, rtol=1e-6)


# --- test metrics and plots --------------------------------------------------------------------


def test_test_metrics_of_known_predictions() -> None:
    actual = np.array([3.0, 5.0, 7.0, 9.0])
    predicted = np.array([4.0, 5.0, 6.0, 11.0])  # residuals +1, 0, -1, +2
    score = score_numbers(predicted.reshape(-1, 1), actual)
    assert score.n_test == 4
    assert score.metrics["test_mae"] == pytest.approx(1.0)
    assert score.metrics["test_rmse"] == pytest.approx(np.sqrt(6 / 4))
    assert score.metrics["test_r2"] == pytest.approx(1 - 6 / 20)  # 1 - SSres / SStot
    info = prediction_info(actual, predicted, "quality")
    assert info.mae == pytest.approx(1.0) and info.rmse == pytest.approx(np.sqrt(1.5))
    assert info.r2 == pytest.approx(0.7) and info.mean_residual == pytest.approx(0.5)
    assert info.actual == actual.tolist() and info.predicted == predicted.tolist()


def test_mse_gets_its_own_axis_in_the_all_metrics_chart() -> None:
    history = {
        "loss": [60.0, 50.0],
        "mae": [60.0, 50.0],
        "mse": [5200.0, 4000.0],
        "val_loss": [55.0, 48.0],
        "val_mae": [55.0, 48.0],
        "val_mse": [4800.0, 3600.0],
    }
    info = charts.all_metrics_info(Curves(history, "val_loss", 1, "completed"))
    places = {s.key: s.place for s in info.series}
    assert places == {
        "loss": "left", "val_loss": "left", "mae": "left", "val_mae": "left",
        "mse": "right", "val_mse": "right",
    }  # fmt: skip
    assert info.right_label == "mse"
    classifier = {"loss": [0.5, 0.3], "accuracy": [0.8, 0.9], "val_loss": [0.4, 0.35]}
    chart = charts.all_metrics_info(Curves(classifier, "val_loss", 1, "x"))
    assert chart.right_label is None and {s.place for s in chart.series} == {"left"}
