"""After ``fit``: the best weights scored on the test split, the model logged and registered,
the curves drawn and read; or, when training did not finish, its curves so far.

``tracking.run.training.train`` calls ``finish`` once ``fit`` has returned and ``log_partial`` when
it was interrupted or failed. The curves and the test split's plots are drawn in a second
process (``tracking.report.drawing``, a thread on one core) while TensorFlow scores the test split
and saves the model (``benchmarks/overhead.py`` times each step).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras

from tracking.config import tags as T
from tracking.config.model_function import BUILT_IN
from tracking.config.tags import StopReason
from tracking.config.train import TrainConfig
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.model.build import predict_rows
from tracking.model.callbacks import BestWeights
from tracking.report import artifacts, drawing
from tracking.report.curves import Curves
from tracking.report.diagnosis import Diagnosis
from tracking.run import registry
from tracking.run.scoring import score_predictions

log = logging.getLogger(__name__)
# Summarised at the best epoch as best_<key>: validation keys, or training keys without them.
BEST_KEYS = ("val_loss", "val_accuracy", "val_mae", "val_mse", "loss", "accuracy", "mae", "mse")


class TrainResult(NamedTuple):
    run_id: str
    stop_reason: StopReason
    best_epoch: int | None  # 0-based step of the best monitored value
    best_value: float | None
    test_loss: float | None
    test_accuracy: float | None
    model_uri: str | None
    history: dict[str, list[float]]
    diagnosis: str | None = None  # the label (tracking.report.diagnosis); None for a pruned trial
    test_metrics: dict[str, float] = {}  # test_loss and the task's test metrics


@dataclass(frozen=True)
class Fitted:
    """What a training leaves for what follows ``fit``: the run it logs into, its
    configuration, the best weights and the history of the epochs finished, and why it ended."""

    tracker: Tracker
    run_id: str
    config: TrainConfig
    best: BestWeights
    history: dict[str, list[float]]
    stop_reason: StopReason


def finish(fitted: Fitted, dataset: Dataset, model: Any, register: bool) -> TrainResult:
    """Restore the best weights, score them on the test split, log the rest."""
    tracker, run_id, config = fitted.tracker, fitted.run_id, fitted.config
    best, history, stop_reason = fitted.best, fitted.history, fitted.stop_reason
    tracker.set_tags(run_id, {T.STOP_REASON: stop_reason})  # now: the model card reads it
    epochs_trained = len(history.get("loss", []))
    summary: dict[str, float] = {"epochs_trained": epochs_trained}
    if best.best_epoch is not None:
        summary["best_epoch"] = best.best_epoch
        for key in BEST_KEYS:
            if key in history and (key.startswith("val_") or "val_loss" not in history):
                summary[f"best_{key}"] = history[key][best.best_epoch]

    # The figures are drawn in the drawing process (a thread on one core) while TensorFlow
    # scores the test split and saves the model (``benchmarks/overhead.py``), logged at the end.
    figures = artifacts.Figures(tracker, run_id, drawing.warm())
    try:
        log_curves(fitted, figures)
        diagnosis: Diagnosis | None = None
        if stop_reason != "pruned":  # a pruned trial's curve is cut short: nothing to read
            diagnosis = artifacts.log_diagnosis(tracker, run_id, history, config, stop_reason)
        test: dict[str, float] = {}
        model_uri = None
        if stop_reason != "pruned" and best.restore(model):
            test = score_test(model, dataset, figures)
            summary.update(test)
            model_uri = log_model(fitted, dataset, model)
    except BaseException:
        figures.close()
        raise
    if stop_reason == "pruned":  # its curves are all it logs: the next trial need not wait
        figures.log_later()
    else:
        figures.log()  # waits for the drawing; its exceptions, if any, are raised here
    tracker.log_metrics(run_id, {k: v for k, v in summary.items() if math.isfinite(v)})
    if register and model_uri and config.model_name:  # last: the card reads the run
        tags = {k: repr(v) for k, v in test.items()}
        registry.register(tracker, model_uri, config.model_name, run_id=run_id, tags=tags)
    log.info(
        "run %s: %s after %d epoch(s); best epoch %s; %s",
        run_id,
        stop_reason,
        epochs_trained,
        None if best.best_epoch is None else best.best_epoch + 1,
        ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in test.items()) or "not scored",
    )
    return TrainResult(
        run_id,
        stop_reason,
        best.best_epoch,
        best.best,
        test.get("test_loss"),
        test.get("test_accuracy"),
        model_uri,
        history,
        None if diagnosis is None else diagnosis.label,
        test,
    )


def score_test(model: Any, dataset: Dataset, figures: artifacts.Figures) -> dict[str, float]:
    """The restored weights on the test split: Keras's loss (with its regularisation term) and
    the task's metrics (``tracking.run.scoring``, as ``evaluate`` and promotion compute them);
    their plots (a confusion matrix, or predicted against actual and the residuals) are drawn
    by ``figures``."""
    x, y = dataset.x_test, dataset.y_test
    predictions = predict_rows(model, x)  # eagerly: no predict function traced for one pass
    # The loss of those same predictions, as evaluate() would report it (one pass, not two).
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(y=y, y_pred=predictions)))
    if dataset.regression:
        artifacts.log_regression(figures, y, predictions.ravel(), dataset.label_name)
    else:
        artifacts.log_confusion(figures, y, predictions.argmax(axis=1), dataset.class_names)
    scores = score_predictions(predictions, dataset).metrics
    return {**scores, "test_loss": loss}


def log_model(fitted: Fitted, dataset: Dataset, model: Any) -> str:
    """The restored model as the run's logged model, its preprocessing beside it; its URI."""
    tracker, run_id = fitted.tracker, fitted.run_id
    tracker.log_dict(run_id, dataset.preprocessing(), "preprocessing.json")
    return tracker.log_model(  # a DataFrame example: the CSV's columns by name
        run_id,
        model,
        dataset.model_input(dataset.x_test[:5]),
        class_names=dataset.class_names,
        label=dataset.label_name,
        # the built-in MLP loads back (tests); a model function's own layers may not
        reload_check=fitted.config.model != BUILT_IN,
    )


def log_partial(fitted: Fitted) -> None:
    """On failure or interruption: curves to the last finished epoch, never a model."""
    f = fitted
    try:
        f.tracker.flush()
        figures = artifacts.Figures(f.tracker, f.run_id, drawing.warm())
        log_curves(f, figures)
        figures.log()
        f.tracker.log_metrics(f.run_id, {"epochs_trained": len(f.history.get("loss", []))})
        if f.history.get("loss"):  # what the curves so far say
            artifacts.log_diagnosis(f.tracker, f.run_id, f.history, f.config, f.stop_reason)
    except Exception:  # the run must still be closed; say why the extras are missing
        log.exception("could not log the partial curves of run %s", f.run_id)


def log_curves(fitted: Fitted, figures: artifacts.Figures) -> None:
    """The learning curves as the config asks for them, best epoch marked (finished or not),
    drawn by ``figures``."""
    f = fitted
    curves = Curves(
        f.history, f.config.monitor, f.best.best_epoch, f.stop_reason, f.config.shift_train_curves
    )
    artifacts.log_curves(figures, curves)
