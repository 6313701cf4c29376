"""One Keras training, logged into a run its caller owns, from the first epoch to the registry.

The caller creates the run and ends it (``Tracker.ending``): ``train`` only logs into it, so a
sweep knows its trial's run id before training starts. Keras's ``fit()`` has no try/finally (a
callback that raises skips ``on_train_end``), so every ending (completed, early stopping, pruned,
diverged, interrupted, failed) is handled here: the run is tagged ``stop_reason`` and, when
training did not finish, gets its curves up to the last finished epoch (``tracking.run.finishing``
does what follows ``fit``).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import keras

from tracking.config import tags as T
from tracking.config.errors import Terminated
from tracking.config.model_function import BUILT_IN, short_name
from tracking.config.tags import StopReason
from tracking.config.train import TrainConfig
from tracking.data.datasets import Dataset, load_dataset
from tracking.door.tracker import Tracker
from tracking.model import devices
from tracking.model.backup import TrainingBackup, last_epoch
from tracking.model.backup import delete as delete_backup
from tracking.model.build import build_model, summary_text
from tracking.model.callbacks import BestWeights, DivergenceGuard, MlflowEpochLogger, StopsTraining
from tracking.report import drawing
from tracking.report.model_card import MODEL_SUMMARY
from tracking.run import finishing
from tracking.run.finishing import TrainResult
from tracking.run.mirror import CheckpointMirror

__all__ = ["FitTracking", "TrainResult", "build_optimizer", "default_run_name", "train"]

log = logging.getLogger(__name__)


def default_run_name(config: TrainConfig) -> str:
    """``mnist-mlp-300x200x100-<time>-<4 hex>`` for the built-in MLP, ``mnist-cnn-<time>-...``
    for a model function in ``cnn.py``."""
    model = short_name(config.model)
    if config.model == BUILT_IN:
        model += "-" + "x".join(str(u) for u in config.units)
    # uuid4 reads os.urandom, which Keras's seeding does not touch: names never repeat.
    return f"{config.dataset}-{model}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


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

    With ``backup``, every finished epoch is backed up there (``tracking.model.backup``) and, when a
    backup is already there, training continues from it: the same run, the next epoch, early
    stopping and best weights as they were. The backup is deleted when training ends, except on
    an interruption (Ctrl-C, SIGTERM), which keeps it for ``-P resume_run_id``.
    """
    devices.use_memory_growth()  # before TensorFlow touches a GPU: processes can share it
    keras.backend.clear_session()  # flat memory across sweep trials (it runs gc.collect too)
    if verbose == 0:  # clear_session resets this; quiet means no progress bars from MLflow either
        keras.utils.disable_interactive_logging()
    dataset = dataset if dataset is not None else load_dataset(config)
    fitting = FitTracking(tracker, run_id, config, extra_callbacks, backup)
    # MLflow hashes the three splits for the dataset inputs (0.3 s on MNIST): done in a thread
    # while the model is built and trained; a resumed run has its inputs already.
    inputs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inputs")
    logged: Future[None] | None = None
    try:
        with fitting:
            log_run_params(tracker, run_id, config, dataset, backup)
            if not fitting.resuming:
                logged = inputs.submit(tracker.log_dataset_inputs, run_id, dataset)
            keras.utils.set_random_seed(config.seed)
            model = build_model(config, dataset.input_shape, dataset.n_classes, dataset.scaling)
            tracker.log_text(run_id, summary_text(model), MODEL_SUMMARY)
            build_optimizer(model)  # after the summary, which would list the optimizer's params
            has_val = len(dataset.x_val) > 0
            started = time.perf_counter()
            model.fit(
                dataset.x_train,
                dataset.y_train,
                validation_data=(dataset.x_val, dataset.y_val) if has_val else None,
                epochs=config.epochs,
                batch_size=config.batch_size,
                shuffle=True,
                callbacks=fitting.callbacks,
                verbose=verbose,
            )
            fit_seconds = time.perf_counter() - started
            if logged is not None:
                logged.result()  # raises here if the inputs could not be logged
            result = fitting.finish(model, dataset, register)
            tracker.log_metrics(run_id, {"fit_seconds": fit_seconds})
            return result
    finally:
        inputs.shutdown()  # waits: no thread outlives the training


def log_run_params(
    tracker: Tracker, run_id: str, config: TrainConfig, dataset: Dataset, backup: Path | None
) -> None:
    """The whole effective config, the data's facts and the devices as the run's params; where
    its backup is, as a tag (absolute: a resume finds it from any working directory)."""
    params = {
        **config.as_params(),
        **config.user_params,  # -P params: the model function's own, one param each
        **dataset.facts(),
        "data_source": dataset.source,
        **devices.device_params(),  # CPU, GPUs, TensorFlow and Keras versions
    }
    tracker.log_params(run_id, params)
    if backup is not None:
        tracker.set_tags(run_id, {T.BACKUP_PATH: str(Path(backup).resolve())})


class FitTracking:
    """The callbacks that track one Keras ``fit()`` into ``run_id``, and what follows it.

    ``callbacks`` go to ``fit``: per-epoch metrics (``MlflowEpochLogger``), divergence, best
    weights by ``config.monitor``, early stopping after ``config.patience`` epochs (``None``:
    none), ``reduce_lr_patience``, then ``extra_callbacks`` and, with ``backup``, the backup of
    every finished epoch (continued from when one is there). Used as a context around ``fit``
    and ``finish``: however the block ends, the run is tagged ``stop_reason``, and when ``fit``
    did not finish (Keras's ``fit()`` has no try/finally) it gets its curves so far. ``train``
    uses it for the project's own model, ``tracking.run.notebook`` for a model a user fits.
    """

    def __init__(
        self,
        tracker: Tracker,
        run_id: str,
        config: TrainConfig,
        extra_callbacks: Sequence[keras.callbacks.Callback] = (),
        backup: Path | None = None,
        *,
        early_stopping: bool = True,
    ) -> None:
        self.tracker, self.run_id, self.config = tracker, run_id, config
        self.extra_callbacks = tuple(extra_callbacks)
        self.backup = backup
        self.epoch_log = MlflowEpochLogger(tracker, run_id)
        self.best = BestWeights(config.monitor, config.monitor_mode)
        self.guard = DivergenceGuard()
        self.early = keras.callbacks.EarlyStopping(
            monitor=config.monitor, mode=config.monitor_mode, patience=config.patience
        )
        self.stop_reason: StopReason = "failed"
        drawing.warm()  # the figures' process imports matplotlib while fit runs (finishing)
        restored = last_epoch(backup) if backup is not None else None
        self.resuming = restored is not None
        if self.resuming:  # what the killed process had already sent
            self.epoch_log.logged_steps = {m.step for m in tracker.metric_history(run_id, "loss")}
            tracker.set_tags(run_id, {T.RESUMED_FROM_EPOCH: restored})
        if config.system_metrics:  # sampled in a thread until the run ends (Tracker.end_run)
            tracker.log_system_metrics(run_id, config.system_metrics_interval, resume=self.resuming)
        callbacks: list[keras.callbacks.Callback] = [self.epoch_log, self.guard, self.best]
        if early_stopping:
            callbacks.append(self.early)
        callbacks += self.extra_callbacks
        if config.reduce_lr_patience > 0:  # before the logger reads the rate of the next epoch
            callbacks.insert(0, _reduce_lr(config))
        if backup is not None:  # last: it restores what the others reset in on_train_begin
            callbacks.append(_backup_callback(backup, callbacks))
        self.mirror: CheckpointMirror | None = None  # after the backup: sends what it wrote
        if backup is not None and not config.checkpoint_cadence.off:
            self.mirror = CheckpointMirror(tracker, run_id, backup, config.checkpoint_cadence)
            callbacks.append(self.mirror)
        self.callbacks = callbacks

    @property
    def history(self) -> dict[str, list[float]]:
        return self.epoch_log.history

    def finish(self, model: Any, dataset: Dataset, register: bool) -> TrainResult:
        """``fit`` returned: the best weights scored, the model logged and registered, the
        curves drawn and read (``tracking.run.finishing.finish``)."""
        if self.resuming:
            _log_missing_epochs(self.tracker, self.run_id, self.history)
        self.stop_reason = _stop_reason(
            self.guard.diverged, self.early.stopped_epoch, self.extra_callbacks
        )
        return finishing.finish(self.fitted(), dataset, model, register)

    def fitted(self) -> finishing.Fitted:
        """The epochs finished so far, for what follows ``fit`` (``tracking.run.finishing``)."""
        return finishing.Fitted(
            self.tracker, self.run_id, self.config, self.best, self.history, self.stop_reason
        )

    def __enter__(self) -> FitTracking:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: Any, trace: Any) -> None:
        tracker, run_id = self.tracker, self.run_id
        try:
            if kind is not None:
                if issubclass(kind, (KeyboardInterrupt, Terminated)):
                    self.stop_reason = "interrupted"
                    log.warning(
                        "interrupted: run %s ends KILLED with %d epoch(s) logged",
                        run_id,
                        len(self.history.get("loss", [])),
                    )
                finishing.log_partial(self.fitted())
        finally:
            if self.mirror is not None:  # before the backup it mirrors goes
                self.mirror.close(interrupted=self.stop_reason == "interrupted")
            tracker.set_tags(run_id, {T.STOP_REASON: self.stop_reason})
            if self.backup is not None and self.stop_reason != "interrupted":
                delete_backup(self.backup)  # a finished (or failed) training is not resumed


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
