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

from tracking.config import tags as T
from tracking.door.tracker import Tracker
from tracking.model.build import summary_text
from tracking.model.callbacks import current_learning_rate
from tracking.report.model_card import MODEL_SUMMARY
from tracking.run.finishing import TrainResult
from tracking.run.fit_options import TrackOptions, arrays_dataset
from tracking.run.training import FitTracking

__all__ = ["TrackOptions", "TrackedRun", "arrays_dataset", "track"]


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


@contextlib.contextmanager
def track(
    options: TrackOptions | None = None,
    /,
    *,
    params: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    run_id: str | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    tracker: Tracker | None = None,
    **fields: Any,
) -> Iterator[TrackedRun]:
    """Track the ``fit`` calls in the block that take ``run.callbacks``, as ``main`` tracks
    its own training, then score, draw, diagnose, log and register the fitted model.

    The data and how the run reads them: a ``TrackOptions``, or its fields as keywords
    (``track(train=(x, y), test=(x_test, y_test), monitor="val_accuracy")``). Besides:

    Args:
        params: your own hyperparameters, logged as params.
        run_name: the run's name (default ``<data_name>-<model name>-<time>``).
        run_id: track into this run (which its caller ends); default: the run
            ``mlflow.start_run()`` made active, else a new run, ended with the block
            (FINISHED; KILLED on Ctrl-C; FAILED with the error).
        extra_callbacks: more callbacks, ahead of the backup (e.g. a pruning callback).
        tracker: the door to MLflow (default: MLflow's process-wide tracking URI).
    """
    options = TrackOptions.of(options, fields)
    tracker = tracker or Tracker()
    dataset = options.dataset()
    run_id = run_id or tracker.active_run_id()
    owned, when = run_id is None, f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    if run_id is None:
        run_id = tracker.create_run(run_name or f"{options.data_name}-{when}")
    ending = tracker.ending(run_id) if owned else contextlib.nullcontext(run_id)
    with ending:
        tracker.log_params(run_id, {**options.params(dataset), **dict(params or {})})
        tracker.log_dataset_inputs(run_id, dataset)
        rename = (options.data_name, when) if owned and not run_name else None
        fitting = FitTracking(
            tracker, run_id, options.config(), (_FitFacts(tracker, run_id, rename),
            *extra_callbacks), early_stopping=options.patience is not None,
        )  # fmt: skip
        with fitting:
            run = TrackedRun(run_id, fitting.callbacks)
            yield run
            model = fitting.best.model
            if model is None:
                raise ValueError(
                    "no fit() in the tracked block took run.callbacks; pass "
                    "callbacks=run.callbacks to model.fit"
                )
            if options.registered_model_name is None:
                fitting.config = dataclasses.replace(
                    fitting.config,
                    registered_model_name=_default_name(options.data_name, model.name),
                )
            run.result = fitting.finish(model, dataset, register=True)
            run.registered = tracker.get_run(run_id).tags.get(T.REGISTERED_MODEL_VERSION, "")


def _default_name(data_name: str, model_name: str) -> str:
    """``<data>-<model>`` as the Model Registry takes it (``digits-cnn``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{data_name}-{model_name}".replace("_", "-"))
