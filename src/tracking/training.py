"""One Keras training, logged into a run its caller owns, from the first epoch to the registry.

The caller creates the run and ends it (``Tracker.ending``): ``train`` only logs into it, so a
sweep knows its trial's run id before training starts. Keras's ``fit()`` has no try/finally (a
callback that raises skips ``on_train_end``), so every ending (completed, early stopping, pruned,
diverged, interrupted, failed) is handled here: the run is tagged ``stop_reason`` and, when
training did not finish, gets its curves up to the last finished epoch.
"""

from __future__ import annotations

import gc
import logging
import math
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import keras

from tracking import artifacts, registry
from tracking import tags as T
from tracking.backup import TrainingBackup, last_epoch
from tracking.backup import delete as delete_backup
from tracking.callbacks import BestWeights, DivergenceGuard, MlflowEpochLogger, StopsTraining
from tracking.config import TrainConfig
from tracking.data import Dataset, load_dataset
from tracking.diagnosis import Diagnosis
from tracking.model import build_model, predictor, summary_text
from tracking.scoring import score_predictions
from tracking.tags import StopReason
from tracking.tracker import Terminated, Tracker

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
    diagnosis: str | None = None  # the label (tracking.diagnosis); None for a pruned trial
    test_metrics: dict[str, float] = {}  # test_loss and the task's test metrics


def default_run_name(config: TrainConfig) -> str:
    layers = "x".join(str(u) for u in config.units)
    # uuid4 reads os.urandom, which Keras's seeding does not touch: names never repeat.
    return f"{config.dataset}-mlp-{layers}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def train(
    config: TrainConfig,
    *,
    tracker: Tracker,
    run_id: str,
    dataset: Dataset | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
    register: bool = True,
    verbose: int = 2,
    backup: Path | None = None,
) -> TrainResult:
    """Train ``config``, logging into ``run_id``, and return what happened.

    An extra callback may end training for its own reason (``StopsTraining``): the run is then
    tagged with that reason, scores nothing on the test split and logs no model.

    With ``backup``, every finished epoch is backed up there (``tracking.backup``) and, when a
    backup is already there, training continues from it: the same run, the next epoch, early
    stopping and best weights as they were. The backup is deleted when training ends, except on
    an interruption (Ctrl-C, SIGTERM), which keeps it for ``-P resume_run_id``.
    """
    keras.backend.clear_session()  # flat memory across sweep trials
    if verbose == 0:  # clear_session resets this; quiet means no progress bars from MLflow either
        keras.utils.disable_interactive_logging()
    gc.collect()
    dataset = dataset if dataset is not None else load_dataset(config)
    epoch_log = MlflowEpochLogger(tracker, run_id)
    best = BestWeights(config.monitor, config.monitor_mode)
    stop_reason: StopReason = "failed"
    resuming = backup is not None and last_epoch(backup) is not None
    if resuming:  # what the killed process had already sent
        epoch_log.logged_steps = {m.step for m in tracker.metric_history(run_id, "loss")}
    # MLflow hashes the three splits for the dataset inputs (0.3 s on MNIST): done in a thread
    # while the model is built and trained; a resumed run has its inputs already.
    inputs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inputs")
    logged: Future[None] | None = None
    try:
        params = {**config.as_params(), **dataset.facts(), "data_source": dataset.source}
        tracker.log_params(run_id, params)
        if not resuming:
            logged = inputs.submit(tracker.log_dataset_inputs, run_id, dataset)
        keras.utils.set_random_seed(config.seed)
        model = build_model(
            config,
            dataset.n_features,
            dataset.n_classes,
            dataset.offset,
            dataset.divisor,
            label_mean=dataset.label_mean,
            label_std=dataset.label_std,
        )
        tracker.log_text(run_id, summary_text(model), "model_summary.txt")
        build_optimizer(model)  # after the summary, which would list the optimizer's params
        guard = DivergenceGuard()
        early = keras.callbacks.EarlyStopping(
            monitor=config.monitor, mode=config.monitor_mode, patience=config.patience
        )
        callbacks = [epoch_log, guard, best, early, *extra_callbacks]
        if config.reduce_lr_patience > 0:  # before the logger reads the rate of the next epoch
            callbacks.insert(0, _reduce_lr(config))
        if backup is not None:  # last: it restores what the others reset in on_train_begin
            callbacks.append(_backup_callback(backup, callbacks))
        has_val = len(dataset.x_val) > 0
        started = time.perf_counter()
        model.fit(
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val) if has_val else None,
            epochs=config.epochs,
            batch_size=config.batch_size,
            shuffle=True,
            callbacks=callbacks,
            verbose=verbose,
        )
        fit_seconds = time.perf_counter() - started
        if logged is not None:
            logged.result()  # raises here if the inputs could not be logged
        if resuming:
            _log_missing_epochs(tracker, run_id, epoch_log.history)
        stop_reason = _stop_reason(guard.diverged, early.stopped_epoch, extra_callbacks)
        result = _finish(
            tracker, run_id, config, dataset, model, best, epoch_log.history, stop_reason, register
        )
        tracker.log_metrics(run_id, {"fit_seconds": fit_seconds})
        return result
    except (KeyboardInterrupt, Terminated):
        stop_reason = "interrupted"
        log.warning(
            "interrupted: run %s ends KILLED with %d epoch(s) logged",
            run_id,
            len(epoch_log.history.get("loss", [])),
        )
        _log_partial(tracker, run_id, config, best, epoch_log.history, stop_reason)
        raise
    except BaseException:
        _log_partial(tracker, run_id, config, best, epoch_log.history, stop_reason)
        raise
    finally:
        inputs.shutdown()  # waits: no thread outlives the training
        tracker.set_tags(run_id, {T.STOP_REASON: stop_reason})
        if backup is not None and stop_reason != "interrupted":
            delete_backup(backup)  # a finished (or failed) training is not resumed


def _backup_callback(
    directory: Path, callbacks: Sequence[keras.callbacks.Callback]
) -> TrainingBackup:
    """Back up every callback that has state (by its position, so a resume finds its own)."""
    stateful = {
        f"{i}-{type(c).__name__}": c
        for i, c in enumerate(callbacks)
        if hasattr(c, "get_state")
        or isinstance(c, (keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau))
    }
    return TrainingBackup(directory, stateful)


def _reduce_lr(config: TrainConfig) -> keras.callbacks.ReduceLROnPlateau:
    """Halve the learning rate after ``reduce_lr_patience`` epochs without improvement."""
    return keras.callbacks.ReduceLROnPlateau(
        monitor=config.monitor,
        mode=config.monitor_mode,
        factor=0.5,
        patience=config.reduce_lr_patience,
        min_lr=1e-6,
    )


def _log_missing_epochs(tracker: Tracker, run_id: str, history: dict[str, list[float]]) -> None:
    """A process killed right after an epoch was backed up may not have sent that epoch's
    metrics (they are logged asynchronously): send what the run lacks, never twice."""
    tracker.flush()
    for key, values in history.items():
        logged = {m.step for m in tracker.metric_history(run_id, key)}
        for step, value in enumerate(values):
            if step not in logged and math.isfinite(value):
                tracker.log_metrics(run_id, {key: value}, step=step)


def build_optimizer(model: Any) -> None:
    """Create the optimizer's slot variables now, eagerly, instead of inside ``fit()``.

    Left to ``fit()``, Keras's TensorFlow backend creates them while tracing the train function,
    each behind a ``tf.cond`` whose two branch functions TensorFlow keeps for the life of the
    process (``clear_session`` and ``gc`` do not free them): 32 of the 36 functions a trial left
    behind with Adam on the default MLP. Same zero-initialised variables, same results.
    ``benchmarks/sweep_memory.py`` measures it.
    """
    model.optimizer.build(model.trainable_variables)


def _stop_reason(
    diverged: bool, stopped_epoch: int, extra_callbacks: Sequence[keras.callbacks.Callback]
) -> StopReason:
    if diverged:
        return "diverged"
    for callback in extra_callbacks:
        if isinstance(callback, StopsTraining) and callback.stop_reason:
            return callback.stop_reason
    return "early_stopping" if stopped_epoch > 0 else "completed"


def _finish(
    tracker: Tracker,
    run_id: str,
    config: TrainConfig,
    dataset: Dataset,
    model: Any,
    best: BestWeights,
    history: dict[str, list[float]],
    stop_reason: StopReason,
    register: bool,
) -> TrainResult:
    """Restore the best weights, score them on the test split, log the rest."""
    tracker.set_tags(run_id, {T.STOP_REASON: stop_reason})  # now: the model card reads it
    epochs_trained = len(history.get("loss", []))
    summary: dict[str, float] = {"epochs_trained": epochs_trained}
    if best.best_epoch is not None:
        summary["best_epoch"] = best.best_epoch
        for key in BEST_KEYS:
            if key in history and (key.startswith("val_") or "val_loss" not in history):
                summary[f"best_{key}"] = history[key][best.best_epoch]

    def read_curves() -> Diagnosis | None:
        _log_curves(tracker, run_id, config, best, history, stop_reason)
        if stop_reason == "pruned":  # a pruned trial's curve is cut short: nothing to read
            return None
        return artifacts.log_diagnosis(tracker, run_id, history, config, stop_reason)

    # The curves and the test split's plots are drawn (matplotlib, no pyplot) in one thread
    # while TensorFlow scores the test split and saves the model (``benchmarks/overhead.py``).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="curves") as pool:
        curves = pool.submit(read_curves)
        test: dict[str, float] = {}
        model_uri = None
        if stop_reason != "pruned" and best.restore(model):
            test, drawn = _score_test(tracker, run_id, model, dataset, pool)
            summary.update(test)
            tracker.log_dict(run_id, dataset.scaling(), "preprocessing.json")
            model_uri = tracker.log_model(
                run_id,
                predictor(model, dataset.feature_names),
                dataset.model_input(dataset.x_test[:5]),
                class_names=dataset.class_names,
                label=dataset.label_name,
            )
            drawn.result()
        diagnosis = curves.result()  # their exceptions, if any, are raised here
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


def _score_test(
    tracker: Tracker, run_id: str, model: Any, dataset: Dataset, pool: ThreadPoolExecutor
) -> tuple[dict[str, float], Future[None]]:
    """The restored weights on the test split: Keras's loss (with its regularisation term), the
    task's metrics (``tracking.scoring``, as ``evaluate`` and promotion compute them) and
    their plots, drawn in ``pool`` (a confusion matrix, or predicted against actual and the
    residuals); the future of that drawing is returned with the metrics."""
    x, y = dataset.x_test, dataset.y_test
    predictions = model.predict(x, batch_size=1024, verbose=0)
    # The loss of those same predictions, as evaluate() would report it (one pass, not two).
    loss = float(keras.ops.convert_to_numpy(model.compute_loss(y=y, y_pred=predictions)))
    if dataset.regression:
        drawn = pool.submit(
            artifacts.log_regression, tracker, run_id, y, predictions.ravel(), dataset.label_name
        )
    else:
        labels = predictions.argmax(axis=1)
        drawn = pool.submit(
            artifacts.log_confusion, tracker, run_id, y, labels, dataset.class_names
        )
    scores = score_predictions(predictions, dataset).metrics
    return {**scores, "test_loss": loss}, drawn


def _log_partial(
    tracker: Tracker,
    run_id: str,
    config: TrainConfig,
    best: BestWeights,
    history: dict[str, list[float]],
    stop_reason: StopReason,
) -> None:
    """On failure or interruption: curves to the last finished epoch, never a model."""
    try:
        tracker.flush()
        _log_curves(tracker, run_id, config, best, history, stop_reason)
        tracker.log_metrics(run_id, {"epochs_trained": len(history.get("loss", []))})
        if history.get("loss"):  # what the curves so far say
            artifacts.log_diagnosis(tracker, run_id, history, config, stop_reason)
    except Exception:  # the run must still be closed; say why the extras are missing
        log.exception("could not log the partial curves of run %s", run_id)


def _log_curves(
    tracker: Tracker,
    run_id: str,
    config: TrainConfig,
    best: BestWeights,
    history: dict[str, list[float]],
    stop_reason: StopReason,
) -> None:
    """The learning curves as the config asks for them, best epoch marked (finished or not)."""
    artifacts.log_curves(
        tracker,
        run_id,
        history,
        monitor=config.monitor,
        best_step=best.best_epoch,
        stop_reason=stop_reason,
        shift_train=config.shift_train_curves,
    )
