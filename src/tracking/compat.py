"""Every private MLflow and Keras name the project relies on, each with a public-API fallback.

An upgrade that removes or renames one of these falls back to the public API instead of failing;
``tests/tracking_tests/test_compat.py`` fails on that upgrade, naming what went, so that the
fallback is a decision and not a surprise. Optuna's private names are in
``tracking.compat_optuna`` (Optuna only, for the sweep's storage, before MLflow loads).

- ``fluent._active_experiment_id``: the experiment ``mlflow.set_experiment`` chose.
- the client's ``_tracking_client.store.update_run_info``: ends a run without the second
  ``set_terminated`` spends waiting for MLflow's idle async-logging thread.
- ``Dataset._to_mlflow_entity``: a dataset as a run input; ``digest_utils`` (``MAX_ROWS``,
  ``get_normalized_md5_digest``): the digest of a numpy dataset, computed without MLflow's copy.
- ``mlflow.models.utils._validate_serving_input``: the check ``Model.log`` makes of a saved
  input example (its public wrapper is deprecated and warns); ``scoring_server._parse_json_data``
  and ``_simulate_serving_environment``: the same check of the model still in memory.
- ``tracking._tracking_service.utils._tracking_uri``: the process-wide tracking URI as set,
  to restore it exactly after pinning it for ``mlflow.models.evaluate``.
- ``SystemMetricsMonitor`` (``mlflow.system_metrics``): what ``mlflow.start_run`` starts
  with ``log_system_metrics=True``, started here for a run made by id; its samplers' metrics
  not yet logged when it stops are logged then (one sample, for a run shorter than the
  sampling interval).
- Keras ``Model._initial_epoch``: where ``fit`` starts (``BackupAndRestore`` sets it too).
- Keras ``EarlyStopping``/``ReduceLROnPlateau`` counters: the state a resumed run restores.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Dataset as DatasetEntity
from mlflow.entities import RunStatus

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


def active_experiment_id() -> str | None:
    """The experiment ``mlflow.set_experiment`` made active in this process, if any."""
    fluent = mlflow.tracking.fluent
    if not hasattr(fluent, "_active_experiment_id"):
        return None  # fallback: only MLFLOW_EXPERIMENT_ID/NAME and Default choose (tracker.py)
    found = fluent._active_experiment_id
    return str(found) if found else None


def end_run(client: MlflowClient, run_id: str, status: str) -> None:
    """``set_terminated`` without its shutdown of MLflow's async logging queue: once our batches
    are flushed, that shutdown only waits for the idle logging thread's 1-second poll
    (``queue.get(timeout=1)``; benchmarks/overhead.py). The status and end time are written as
    ``set_terminated`` writes them."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None or not hasattr(store, "update_run_info"):
        client.set_terminated(run_id, status=status)  # fallback: public, a little slower
        return
    end_time = int(time.time() * 1000)
    store.update_run_info(
        run_id, run_status=RunStatus.from_string(status), end_time=end_time, run_name=None
    )


def numpy_digest(features: np.ndarray, targets: np.ndarray) -> str:
    """The digest ``mlflow.data.from_numpy`` computes (``digest_utils.compute_numpy_digest``:
    the first ``MAX_ROWS`` values of each array, and its shape), read from a view of each array
    instead of a flattened copy of all of it (170 MB for MNIST's training split)."""
    from mlflow.data import digest_utils

    elements: list[Any] = []
    for array in (features, targets):
        head = np.ravel(array)[: digest_utils.MAX_ROWS]
        try:
            elements.append(pd.util.hash_array(head))
        except TypeError:  # as MLflow: values pandas cannot hash count by number
            elements.append(np.int64(head.size))
        elements.extend(np.int64(n) for n in array.shape)
    return str(digest_utils.get_normalized_md5_digest(elements))


def dataset_entity(dataset: Any) -> DatasetEntity:
    """An ``mlflow.data`` dataset as the entity ``log_inputs`` takes."""
    if hasattr(dataset, "_to_mlflow_entity"):
        return dataset._to_mlflow_entity()
    return DatasetEntity(**dataset.to_dict())  # fallback: the same six fields, public


def check_serving_input(path: str, serving_input: str) -> None:
    """Predict the saved input example of the model saved at ``path`` as a server would;
    raises what the prediction raises."""
    utils = mlflow.models.utils
    if hasattr(utils, "_validate_serving_input"):
        utils._validate_serving_input(path, serving_input)
        return
    with warnings.catch_warnings():  # fallback: the public wrapper, deprecated in MLflow 3.13
        warnings.simplefilter("ignore", FutureWarning)
        mlflow.models.validate_serving_input(path, serving_input)


def start_system_metrics(run_id: str, tracking_uri: str, interval: float, resume: bool) -> Any:
    """MLflow's system metrics sampler on ``run_id`` (``system/cpu_utilization_percentage``,
    ``system/system_memory_usage_megabytes``... every ``interval`` seconds; GPUs with
    nvidia-ml-py), started; ``resume`` continues the steps of a reopened run. None when it
    cannot start (no psutil): the run goes on without."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(
            run_id, sampling_interval=interval, resume_logging=resume, tracking_uri=tracking_uri
        )
    except ImportError as error:  # psutil
        log.warning("no system metrics for run %s: %s", run_id, error)
        return None
    monitor.start()
    return monitor


def stop_system_metrics(monitor: Any) -> None:
    """Stop the sampler and log what it sampled since its last logging (the run is open)."""
    monitor.finish()
    samplers = getattr(monitor, "monitors", [])
    if any(getattr(sampler, "metrics", None) for sampler in samplers):
        try:
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()
        except Exception as error:  # as MLflow's own sampler: a lost sample ends nothing
            log.warning("the last system metrics sample was not logged: %s", error)


def check_serving_input_in_memory(mlflow_model: Any, model_impl: Any, serving_input: str) -> bool:
    """As ``check_serving_input``, with the model as it is in memory instead of loaded back from
    its files: MLflow's parsing of the saved example in its serving environment, then
    ``PyFuncModel.predict`` (params checked against the signature). False when MLflow no
    longer has those helpers: check from the files then."""
    from mlflow.pyfunc import PyFuncModel, scoring_server
    from mlflow.pyfunc.utils import environment

    parse = getattr(scoring_server, "_parse_json_data", None)
    serving = getattr(environment, "_simulate_serving_environment", None)
    if parse is None or serving is None:
        return False
    pyfunc_model = PyFuncModel(model_meta=mlflow_model, model_impl=model_impl)
    parsed = parse(serving_input, pyfunc_model.metadata, pyfunc_model.metadata.get_input_schema())
    with serving():
        pyfunc_model.predict(parsed.data, params=parsed.params)
    return True


_URI_ENV = "MLFLOW_TRACKING_URI"


@contextmanager
def process_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to ``uri`` for the block, for MLflow functions
    that take no URI (``mlflow.models.evaluate``); restored afterwards exactly, the
    environment variable included (MLflow's own ``_use_tracking_uri`` unsets it)."""
    utils = mlflow.tracking._tracking_service.utils
    env = os.environ.get(_URI_ENV)
    # fallback: the resolved URI, which then stays set even if the environment variable changes
    before = utils._tracking_uri if hasattr(utils, "_tracking_uri") else mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None: unset, as MLflow does
        if env is None:
            os.environ.pop(_URI_ENV, None)
        else:
            os.environ[_URI_ENV] = env


def start_fit_at(model: keras.Model, epoch: int) -> None:
    """Make the next ``fit`` start at ``epoch`` (``epoch`` >= ``epochs``: train no more), as
    Keras's ``BackupAndRestore`` does."""
    if hasattr(model, "_initial_epoch"):
        model._initial_epoch = epoch
        return
    # fallback: stop at the end of the first batch; that epoch still ends (one more epoch logged)
    log.warning("Keras has no Model._initial_epoch: the resumed fit stops after one batch")
    model.stop_training = True


# The attributes on_train_begin resets: what a resumed callback must get back, by class name
# (Keras is imported where a callback is, so that importing this module does not load
# TensorFlow before the entry points import it without its start-up notices).
CALLBACK_STATE = {
    "EarlyStopping": ("wait", "stopped_epoch", "best", "best_epoch", "best_weights"),
    "ReduceLROnPlateau": ("wait", "cooldown_counter", "best"),
}


def _callback_kind(callback: Any) -> str | None:
    import keras

    for name in CALLBACK_STATE:
        if isinstance(callback, getattr(keras.callbacks, name)):
            return name
    return None


class KerasCallbackState:
    """``get_state``/``set_state`` for a Keras callback that has none (``CALLBACK_STATE``); read
    after ``on_train_begin``, which creates some of them."""

    def __init__(self, callback: keras.callbacks.Callback) -> None:
        self.callback = callback
        kind = _callback_kind(callback)
        assert kind is not None, f"{type(callback)} has no known state"
        self.names = CALLBACK_STATE[kind]
        self._warned = False

    def get_state(self) -> dict[str, Any]:
        present = [n for n in self.names if hasattr(self.callback, n)]
        if len(present) < len(self.names) and not self._warned:
            # fallback: a resumed run restarts counting what Keras no longer exposes
            missing = sorted(set(self.names) - set(present))
            log.warning("%s has no %s: not restored on resume", type(self.callback), missing)
            self._warned = True
        return {name: _plain(name, getattr(self.callback, name)) for name in present}

    def set_state(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self.callback, key, value)


def has_keras_state(callback: Any) -> bool:
    return _callback_kind(callback) is not None


def _plain(name: str, value: Any) -> Any:
    """Counters as ints, the best value as a float (None stays None), weights as they are."""
    if value is None or name == "best_weights":
        return value
    return float(value) if name == "best" else int(value)
