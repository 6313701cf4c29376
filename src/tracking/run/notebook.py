"""Your own ``model.fit``, from Python or a notebook, tracked as ``main`` tracks a run.

    with tracking.track(train=(x_train, y_train), test=(x_test, y_test)) as run:
        model.fit(x_train, y_train, validation_split=0.1, epochs=10, callbacks=run.callbacks)
    print(run.result.test_metrics)

``run.callbacks`` are those of ``tracking.run.training.FitTracking``: every epoch's metrics at
step = Keras's epoch index, best weights by ``monitor``, early stopping, divergence. When the
block ends, what ``main`` does after ``fit`` follows (``tracking.run.finishing``): the best weights
are put back and scored on the test split, the curves drawn, the diagnosis written, the whole
predictor logged and registered with its model card. The model is the one ``fit`` was called
on, logged as it is: it takes the examples as they were fitted (preprocessing you put inside
the model travels with it). Everything goes through the ``Tracker``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import keras
import numpy as np

from tracking.config import tags as T
from tracking.config.errors import ConfigError
from tracking.config.train import MONITORS, TASKS, TrainConfig
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.model.build import summary_text
from tracking.model.callbacks import current_learning_rate
from tracking.report.model_card import FITTED_WITH, MODEL_SUMMARY
from tracking.run.finishing import TrainResult
from tracking.run.training import FitTracking

__all__ = ["TrackedRun", "arrays_dataset", "track"]

Split = tuple[Any, Any]  # (examples, labels)


@dataclasses.dataclass
class TrackedRun:
    """What ``track`` yields: pass ``callbacks`` to ``fit``; ``result`` is there once the
    block has ended (``tracking.run.finishing.TrainResult``: test metrics, diagnosis, model URI)."""

    run_id: str
    callbacks: list[keras.callbacks.Callback]
    result: TrainResult | None = None
    registered: str = ""  # "<name>/<version>" once registered


class _FitFacts(keras.callbacks.Callback):
    """At the start of ``fit``: what it trains with, as params, and the model's summary; the
    run, when ``track`` named it, is renamed after the model (``digits-cnn-<time>``)."""

    def __init__(self, tracker: Tracker, run_id: str, rename: tuple[str, str] | None) -> None:
        super().__init__()
        self.tracker, self.run_id, self.rename = tracker, run_id, rename

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model, facts = self.model, {"model": self.model.name, "epochs": self.params.get("epochs")}
        if self.rename is not None:
            data, when = self.rename
            self.tracker.rename_run(self.run_id, f"{data}-{model.name}-{when}")
        if model.optimizer is not None:
            facts["optimizer"] = type(model.optimizer).__name__.lower()
            facts["learning_rate"] = current_learning_rate(model)
        if isinstance(getattr(model, "loss", None), str):
            facts["loss"] = model.loss
        self.tracker.log_params(self.run_id, {k: v for k, v in facts.items() if v is not None})
        self.tracker.log_text(self.run_id, summary_text(model), MODEL_SUMMARY)


def arrays_dataset(
    name: str,
    train: Split,
    test: Split,
    validation: Split | None = None,
    class_names: Sequence[str] | None = None,
    task: str = "classification",
) -> Dataset:
    """Your arrays as a ``Dataset``, unscaled: labels 0..k-1 (or one-hot rows) of classes
    named ``class_names`` (default ``"0"``, ``"1"``, ...), or numbers for regression."""
    regression = task == "regression"

    def labels(y: Any) -> np.ndarray:
        y = np.asarray(y)
        if regression:
            return y.astype(np.float32).reshape(len(y))
        if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
            y = y.argmax(axis=1)
        return y.astype(np.int64).reshape(len(y))

    x_train, y_train = np.asarray(train[0]), labels(train[1])
    x_test, y_test = np.asarray(test[0]), labels(test[1])
    if validation is not None:
        x_val, y_val = np.asarray(validation[0]), labels(validation[1])
    else:
        x_val, y_val = x_train[:0], y_train[:0]
    names: tuple[str, ...] = ()
    if not regression:
        seen = int(max(y.max(initial=0) for y in (y_train, y_val, y_test))) + 1
        names = tuple(str(c) for c in class_names) if class_names else tuple(map(str, range(seen)))
    none = np.zeros(0, np.float32)
    return Dataset(
        name, "arrays given to tracking.track", x_train, y_train, x_val, y_val, x_test, y_test,
        names, none, none, label_mean=0.0, label_std=1.0,
    )  # fmt: skip


@contextlib.contextmanager
def track(
    *,
    train: Split,
    test: Split,
    validation: Split | None = None,
    class_names: Sequence[str] | None = None,
    task: str = "classification",
    monitor: str = "val_loss",
    patience: int | None = 5,
    params: Mapping[str, Any] | None = None,
    registered_model_name: str | None = None,
    run_name: str | None = None,
    run_id: str | None = None,
    data_name: str = "arrays",
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    tracker: Tracker | None = None,
) -> Iterator[TrackedRun]:
    """Track the ``fit`` calls in the block that take ``run.callbacks``, as ``main`` tracks
    its own training, then score, draw, diagnose, log and register the fitted model.

    Args:
        train, test, validation: ``(x, y)`` as given to ``fit`` (``validation``: what
            ``validation_data`` gets; with ``validation_split`` leave it out). They are the
            run's dataset inputs and sizes; ``test`` scores the best weights.
        class_names: the classes' names, label ``i`` = ``class_names[i]`` (default ``"0"``...).
        task: ``classification`` (labels 0..k-1, or one-hot) or ``regression``.
        monitor: the Keras key for best weights and early stopping (``val_loss``, ``loss``,
            ``val_accuracy``, ...); ``patience``: epochs without improvement before early
            stopping (None: no early stopping).
        params: your own hyperparameters, logged as params.
        registered_model_name: the registered model that gets a version; default
            ``<data_name>-<Keras model name>``, ``""`` = do not register.
        run_id: track into this run (which its caller ends); default: the run
            ``mlflow.start_run()`` made active, else a new run, ended with the block
            (FINISHED; KILLED on Ctrl-C; FAILED with the error).
        extra_callbacks: more callbacks, ahead of the backup (e.g. a pruning callback).
        tracker: the door to MLflow (default: MLflow's process-wide tracking URI).
    """
    for name, value, choices in (("monitor", monitor, MONITORS), ("task", task, TASKS)):
        if value not in choices:
            raise ConfigError(name, value, "is not supported", f"pass one of {', '.join(choices)}")
    tracker = tracker or Tracker()
    dataset = arrays_dataset(data_name, train, test, validation, class_names, task)
    config = TrainConfig(
        task=task,
        monitor=monitor,
        patience=0 if patience is None else patience,
        registered_model_name="" if registered_model_name is None else registered_model_name,
    )
    if not isinstance(patience, (int, type(None))) or (patience or 0) < 0:
        raise ConfigError("patience", patience, "must be an int >= 0 or None", "pass e.g. 5")
    run_id = run_id or tracker.active_run_id()
    owned, when = run_id is None, f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    if run_id is None:
        run_id = tracker.create_run(run_name or f"{data_name}-{when}")
    ending = tracker.ending(run_id) if owned else contextlib.nullcontext(run_id)
    with ending:
        tracker.log_params(
            run_id,
            {
                "dataset": data_name,
                "data_source": dataset.source,
                "fitted_with": FITTED_WITH,  # the model card: no scaling was added
                "task": task,
                "monitor": monitor,
                "patience": "none" if patience is None else patience,
                **dataset.facts(),
                **dict(params or {}),
            },
        )
        tracker.log_dataset_inputs(run_id, dataset)
        facts = _FitFacts(tracker, run_id, (data_name, when) if owned and not run_name else None)
        fitting = FitTracking(
            tracker, run_id, config, (facts, *extra_callbacks), early_stopping=patience is not None
        )
        with fitting:
            run = TrackedRun(run_id, fitting.callbacks)
            yield run
            model = fitting.best.model
            if model is None:
                raise ValueError(
                    "no fit() in the tracked block took run.callbacks; pass "
                    "callbacks=run.callbacks to model.fit"
                )
            if registered_model_name is None:
                fitting.config = dataclasses.replace(
                    config, registered_model_name=_default_name(data_name, model.name)
                )
            run.result = fitting.finish(model, dataset, register=True)
            run.registered = tracker.get_run(run_id).tags.get(T.REGISTERED_MODEL_VERSION, "")


def _default_name(data_name: str, model_name: str) -> str:
    """``<data>-<model>`` as the Model Registry takes it (``digits-cnn``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{data_name}-{model_name}".replace("_", "-"))
