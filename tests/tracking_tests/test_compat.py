"""The private MLflow, Keras and Optuna names ``tracking.compat`` and ``tracking.compat_optuna``
rely on still exist and do what they expect; where they can be taken away here, the public
fallback gives the same result.

Each test fails on an upgrade that removes or changes what it names: read ``tracking.compat``
and decide whether the fallback is good enough before raising the pin."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import keras
import mlflow
import mlflow.tensorflow
import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from mlflow.data.dataset import Dataset as MlflowDataset
from mlflow.data.numpy_dataset import from_numpy
from mlflow.exceptions import MlflowException

from tracking import compat, compat_optuna
from tracking.sweep.heartbeat import HeartbeatProxy


def test_the_experiment_set_experiment_chose_is_read(
    tracking_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")  # set_experiment sets it: undone after
    assert hasattr(mlflow.tracking.fluent, "_active_experiment_id")
    experiment_id = mlflow.set_experiment("chosen").experiment_id
    try:
        assert compat.active_experiment_id() == experiment_id
    finally:
        mlflow.tracking.fluent._active_experiment_id = None


def test_without_it_only_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(mlflow.tracking.fluent, "_active_experiment_id")
    assert compat.active_experiment_id() is None


def _ended(client: MlflowClient, run_id: str) -> tuple[str, bool]:
    info = client.get_run(run_id).info
    return info.status, info.end_time is not None and info.end_time >= info.start_time


def test_a_run_is_ended_through_the_store_as_set_terminated_ends_it(tracking_store: str) -> None:
    client = MlflowClient(tracking_store)
    assert hasattr(client._tracking_client.store, "update_run_info")
    run_id = client.create_run("0").info.run_id
    compat.end_run(client, run_id, "KILLED")
    assert _ended(client, run_id) == ("KILLED", True)


class _PublicClient:
    """A client with MLflow's public surface only (as if ``_tracking_client`` were gone)."""

    def __init__(self, client: MlflowClient) -> None:
        self.set_terminated = client.set_terminated


def test_without_the_store_set_terminated_ends_it(tracking_store: str) -> None:
    client = MlflowClient(tracking_store)
    run_id = client.create_run("0").info.run_id
    compat.end_run(_PublicClient(client), run_id, "FAILED")  # type: ignore[arg-type]
    assert _ended(client, run_id) == ("FAILED", True)


def test_a_dataset_entity_is_the_same_by_the_private_call_and_the_public_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset = from_numpy(np.arange(6.0).reshape(3, 2), targets=np.arange(3), name="t-train")
    assert hasattr(dataset, "_to_mlflow_entity")
    private = compat.dataset_entity(dataset)
    monkeypatch.delattr(MlflowDataset, "_to_mlflow_entity")
    public = compat.dataset_entity(dataset)
    assert public.to_dictionary() == private.to_dictionary()
    assert private.name == "t-train" and private.digest


def test_a_saved_input_example_is_checked_without_a_deprecation_warning(tmp_path: Path) -> None:
    assert hasattr(mlflow.models.utils, "_validate_serving_input")
    model = _model()
    path = str(tmp_path / "model")
    mlflow.tensorflow.save_model(model, path, input_example=np.zeros((2, 2), np.float32))
    serving_input = mlflow.models.Model.load(path).get_serving_input(path)
    assert serving_input is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        compat.check_serving_input(path, serving_input)
    with pytest.raises(MlflowException):  # a row the model cannot take
        compat.check_serving_input(path, '{"inputs": [[1.0, 2.0, 3.0]]}')


def test_the_input_example_is_checked_in_memory_as_from_the_files(tmp_path: Path) -> None:
    from tracking.model.build import EagerModel
    from tracking.model.keras_rows import KerasRows

    model = _model()
    path = str(tmp_path / "model")
    info = mlflow.models.Model()
    example = np.zeros((2, 2), np.float32)
    # explicit requirements: MLflow infers none (a subprocess that loads the model)
    mlflow.tensorflow.save_model(
        model, path, mlflow_model=info, input_example=example, pip_requirements=["keras"]
    )
    serving_input = info.get_serving_input(path)
    in_memory = KerasRows(EagerModel(model), {"input": {"shape": [2]}})
    assert serving_input is not None
    assert compat.check_serving_input_in_memory(info, in_memory, serving_input)
    with pytest.raises(MlflowException):  # the same row the files refuse
        compat.check_serving_input_in_memory(info, in_memory, '{"inputs": [[1.0, 2.0, 3.0]]}')


def test_without_mlflows_parser_the_files_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.pyfunc import scoring_server

    assert hasattr(scoring_server, "_parse_json_data")
    monkeypatch.delattr(scoring_server, "_parse_json_data")
    assert not compat.check_serving_input_in_memory(None, None, "{}")


@pytest.mark.parametrize(
    "features",
    [
        np.arange(70_000 * 3, dtype=np.float32).reshape(70_000, 3),  # more values than hashed
        np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4),  # fewer; images
        np.arange(40_000, dtype=np.float64).reshape(200, 200)[:, ::2],  # not contiguous
    ],
)
def test_the_numpy_digest_is_mlflows(features: np.ndarray) -> None:
    from mlflow.data.digest_utils import compute_numpy_digest

    targets = np.arange(len(features)) % 7
    assert compat.numpy_digest(features, targets) == compute_numpy_digest(features, targets)
    assert from_numpy(features, targets=targets).digest == compat.numpy_digest(features, targets)


def test_the_process_tracking_uri_is_restored_exactly(tmp_path: Path) -> None:
    utils = mlflow.tracking._tracking_service.utils
    assert hasattr(utils, "_tracking_uri")
    other = f"sqlite:///{tmp_path}/other.db"
    before = os.environ["MLFLOW_TRACKING_URI"]
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # as a process that never set it
    os.environ["MLFLOW_TRACKING_URI"] = before
    with compat.process_tracking_uri(other):
        assert mlflow.get_tracking_uri() == other
    # MLflow's own _use_tracking_uri would have unset the environment variable here
    assert os.environ["MLFLOW_TRACKING_URI"] == before == mlflow.get_tracking_uri()
    assert utils._tracking_uri is None  # not pinned: a later environment change still counts
    os.environ["MLFLOW_TRACKING_URI"] = other
    assert mlflow.get_tracking_uri() == other
    os.environ["MLFLOW_TRACKING_URI"] = before


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_fit_starts_where_it_is_told() -> None:
    model = _model()
    assert hasattr(model, "_initial_epoch")
    x, y = np.zeros((8, 2), np.float32), np.zeros(8, np.float32)
    compat.start_fit_at(model, 3)
    assert model.fit(x, y, epochs=3, verbose=0).epoch == []  # told to stop: trains no more
    compat.start_fit_at(model, 3)
    assert model.fit(x, y, epochs=5, verbose=0).epoch == [3, 4]


@pytest.mark.parametrize("kind", list(compat.CALLBACK_STATE))
def test_keras_callbacks_hold_the_counters_a_resume_restores(kind: str) -> None:
    callback = getattr(keras.callbacks, kind)(monitor="val_loss", patience=3)
    callback.set_model(_model())
    callback.on_train_begin()
    missing = [n for n in compat.CALLBACK_STATE[kind] if not hasattr(callback, n)]
    assert missing == []
    state = compat.KerasCallbackState(callback).get_state()
    assert set(state) == set(compat.CALLBACK_STATE[kind])


def test_restored_counters_carry_early_stopping_on() -> None:
    early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    early.set_model(_model())
    early.on_train_begin()
    saved = {"wait": 2, "stopped_epoch": 0, "best": 0.5, "best_epoch": 4, "best_weights": None}
    compat.KerasCallbackState(early).set_state(saved)
    early.on_epoch_end(7, {"val_loss": 0.6})  # a third epoch without improvement
    assert early.model.stop_training and early.stopped_epoch == 7


def test_a_counter_keras_no_longer_has_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=3)
    reduce.on_train_begin()
    del reduce.cooldown_counter  # as if Keras had renamed it
    state = compat.KerasCallbackState(reduce).get_state()
    assert set(state) == {"wait", "best"}
    assert "cooldown_counter" in caplog.text


def test_optunas_heartbeat_base_is_the_one_rdbstorage_has() -> None:
    from optuna.storages._heartbeat import BaseHeartbeat

    assert compat_optuna.BaseHeartbeat is BaseHeartbeat
    # So Optuna's optimize loop and fail_stale_trials see heartbeats through the proxy.
    assert issubclass(HeartbeatProxy, BaseHeartbeat)


def test_without_the_private_module_the_base_is_found_on_rdbstorage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from optuna.storages._heartbeat import BaseHeartbeat

    monkeypatch.setitem(sys.modules, "optuna.storages._heartbeat", None)  # import fails
    assert compat_optuna._heartbeat_base() is BaseHeartbeat


def _trials() -> tuple[optuna.storages.BaseStorage, int, list[optuna.trial.FrozenTrial]]:
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage).ask()  # ids then differ from the trials' numbers
    study = optuna.create_study(storage=storage)
    study.ask(), study.ask()
    return storage, study._study_id, study.get_trials(deepcopy=True)


def test_a_trials_id_is_its_private_one() -> None:
    storage, study_id, trials = _trials()
    assert hasattr(trials[1], "_trial_id")
    expected = [storage.get_trial(t._trial_id).number for t in trials]
    got = [storage.get_trial(compat_optuna.storage_trial_id(t, storage, study_id)).number
           for t in trials]  # fmt: skip
    assert got == expected == [0, 1]


def test_without_it_the_storage_tells_the_id() -> None:
    storage, study_id, trials = _trials()
    private = [t._trial_id for t in trials]
    for trial in trials:
        del trial._trial_id
    assert [compat_optuna.storage_trial_id(t, storage, study_id) for t in trials] == private
