"""``tracking.track`` and ``tracking.track_study`` in this process: however the block ends, the
run ends with what it has, and nothing is registered without a model.

The README's own snippets run in a Jupyter kernel in tests/pipelines_tests/test_notebook.py.
"""

from __future__ import annotations

import keras
import mlflow
import numpy as np
import optuna
import pytest
from sklearn.datasets import load_digits

import tracking
from tracking.config.errors import ConfigError, MonitorError
from tracking.door.tracker import Tracker


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, ...]:
    x, y = load_digits(return_X_y=True)
    return x[:300], y[:300], x[300:400], y[300:400]


def dense() -> keras.Model:
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Rescaling(1 / 16), keras.layers.Dense(10, "softmax")],
        name="dense",
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_fit_in_the_block_is_scored_logged_and_registered(digits: tuple) -> None:
    x, y, x_test, y_test = digits
    model = dense()
    with tracking.track(train=(x, y), test=(x_test, y_test), params={"units": 10}) as run:
        model.fit(x, y, validation_split=0.2, epochs=3, callbacks=run.callbacks, verbose=0)
    tracker = Tracker()
    record = tracker.get_run(run.run_id)
    assert record.status == "FINISHED" and record.name.startswith("arrays-dense-")
    assert record.params["units"] == "10" and record.params["epochs"] == "3"
    assert record.params["n_train"] == "300" and record.params["optimizer"] == "adam"
    assert [m.step for m in tracker.metric_history(run.run_id, "val_loss")] == [0, 1, 2]
    assert run.result is not None and run.result.diagnosis == record.tags["diagnosis"]
    assert record.metrics["test_accuracy"] == pytest.approx(run.result.test_accuracy)
    assert run.registered == "arrays-dense/1" == record.tags["registered_model_version"]
    # what the registered model predicts is what was scored
    predicted = mlflow.pyfunc.load_model("models:/arrays-dense/1").predict(x_test)
    card = mlflow.MlflowClient().get_model_version("arrays-dense", "1").description
    assert "rows of 64 raw values" in card and "as it was fitted" in card and "rescaling" in card
    assert np.mean(predicted == y_test) == pytest.approx(run.result.test_accuracy)


def test_an_active_mlflow_run_is_tracked_into_and_left_to_its_owner(digits: tuple) -> None:
    x, y, x_test, y_test = digits
    model = dense()
    with mlflow.start_run() as active:
        with tracking.track(
            train=(x, y), test=(x_test, y_test), monitor="loss", registered_model_name=""
        ) as run:
            model.fit(x, y, epochs=2, callbacks=run.callbacks, verbose=0)
        assert run.run_id == active.info.run_id
        assert Tracker().run_status(run.run_id) == "RUNNING"  # its owner ends it
    record = Tracker().get_run(run.run_id)
    assert record.status == "FINISHED" and "registered_model_version" not in record.tags
    assert record.metrics["best_epoch"] in (0, 1) and "test_loss" in record.metrics


def test_an_error_in_the_block_fails_the_run_with_its_curves_and_no_version(
    digits: tuple,
) -> None:
    x, y, x_test, y_test = digits
    model = dense()
    with pytest.raises(RuntimeError, match="the user's own"):
        with tracking.track(train=(x, y), test=(x_test, y_test)) as run:
            model.fit(x, y, validation_split=0.2, epochs=2, callbacks=run.callbacks, verbose=0)
            raise RuntimeError("the user's own error after fit")
    tracker = Tracker()
    record = tracker.get_run(run.run_id)
    assert record.status == "FAILED" and "the user's own" in record.tags["error"]
    assert record.tags["stop_reason"] == "failed" and record.metrics["epochs_trained"] == 2
    plots = mlflow.MlflowClient().list_artifacts(run.run_id, "plots")
    assert "plots/loss_curve.png" in {a.path for a in plots}
    assert tracker.latest_version("arrays-dense") is None


def test_ctrl_c_ends_the_run_killed(digits: tuple) -> None:
    x, y, x_test, y_test = digits

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 1:
                raise KeyboardInterrupt

    options = tracking.TrackOptions(train=(x, y), test=(x_test, y_test))  # as one value
    with pytest.raises(KeyboardInterrupt):
        with tracking.track(options) as run:
            callbacks = [*run.callbacks, Interrupt()]
            dense().fit(x, y, validation_split=0.2, epochs=5, callbacks=callbacks, verbose=0)
    record = Tracker().get_run(run.run_id)
    assert record.status == "KILLED" and record.tags["stop_reason"] == "interrupted"
    assert record.metrics["epochs_trained"] == 2


def test_a_block_without_a_tracked_fit_or_the_monitored_key_fails_saying_so(
    digits: tuple,
) -> None:
    x, y, x_test, y_test = digits
    with pytest.raises(ValueError, match="pass callbacks=run.callbacks to model.fit"):
        with tracking.track(train=(x, y), test=(x_test, y_test)) as run:
            dense().fit(x, y, epochs=1, verbose=0)
    assert Tracker().run_status(run.run_id) == "FAILED"
    with pytest.raises(MonitorError, match="monitor='val_loss' is not a metric"):
        with tracking.track(train=(x, y), test=(x_test, y_test)) as run:
            dense().fit(x, y, epochs=1, callbacks=run.callbacks, verbose=0)  # no validation
    with pytest.raises(ConfigError, match="monitor='val_acc' is not supported; pass one of"):
        with tracking.track(train=(x, y), test=(x_test, y_test), monitor="val_acc"):
            pass
    assert {r.status for r in Tracker().find_runs({})} == {"FAILED"}  # none created by the last


def test_a_study_of_the_other_direction_is_refused_before_any_run(digits: tuple) -> None:
    x, y, x_test, y_test = digits
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ConfigError, match="create it with direction='minimize'"):
        with tracking.track_study(study, lambda t, r: None, train=(x, y), test=(x_test, y_test)):
            pass
    assert Tracker().find_runs({}) == []


def test_the_options_are_one_value_or_keywords_not_both(digits: tuple) -> None:
    x, y, x_test, y_test = digits
    options = tracking.TrackOptions(train=(x, y), test=(x_test, y_test), monitor="loss")
    # The keywords track and track_study take are the options' fields, checked when made.
    fields = {"train": (x, y), "test": (x_test, y_test), "monitor": "loss"}
    assert tracking.TrackOptions.of(None, fields).config() == options.config()
    with pytest.raises(TypeError, match="not both"):
        with tracking.track(options, monitor="val_loss"):
            pass
    with pytest.raises(ConfigError, match="patience=-1 must be an int >= 0 or None"):
        tracking.TrackOptions(train=(x, y), test=(x_test, y_test), patience=-1)
    assert Tracker().find_runs({}) == []
