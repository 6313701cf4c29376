from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import optuna
import pytest

from tracking.errors import MonitorError
from tracking.pruning import PruningCallback, make_pruner
from tracking.sweep_config import SweepConfig


class PruneAt:
    """A trial stub that says "prune" from ``step`` on and records what it was told."""

    def __init__(self, step: int | None) -> None:
        self.step = step
        self.reported: list[tuple[int, float]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return self.step is not None and self.reported[-1][0] >= self.step


def _callback(trial: PruneAt, monitor: str = "val_loss") -> PruningCallback:
    callback = PruningCallback(trial, monitor)
    callback.set_model(SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    return callback


def test_reports_every_epoch_at_keras_step() -> None:
    trial = PruneAt(None)
    callback = _callback(trial)
    for epoch, value in enumerate([0.9, 0.7, 0.8]):
        callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": value})
    assert trial.reported == [(0, 0.9), (1, 0.7), (2, 0.8)]
    assert callback.stop_reason is None and not callback.model.stop_training


def test_should_prune_stops_training_and_remembers_the_step() -> None:
    callback = _callback(PruneAt(1))
    callback.on_epoch_end(0, {"val_loss": 0.9})
    assert not callback.model.stop_training
    callback.on_epoch_end(1, {"val_loss": 0.8})
    assert callback.model.stop_training
    assert (callback.stop_reason, callback.pruned_at_step) == ("pruned", 1)


def test_missing_monitor_is_an_error_at_the_first_epoch_naming_the_keys() -> None:
    callback = _callback(PruneAt(None), monitor="val_acc")
    with pytest.raises(MonitorError, match="available: loss, val_loss"):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})


def test_a_nan_epoch_is_not_reported() -> None:
    trial = PruneAt(None)
    _callback(trial).on_epoch_end(0, {"val_loss": float("nan")})
    assert trial.reported == []


def test_pruner_names_map_to_optunas_pruners() -> None:
    sweep = SweepConfig(prune_startup_trials=4, prune_warmup_epochs=3, prune_patience=2)
    median = make_pruner(sweep)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (4, 3)
    patient = make_pruner(SweepConfig(pruner="patient", prune_patience=2))
    assert isinstance(patient, optuna.pruners.PatientPruner) and patient._patience == 2
    assert isinstance(patient._wrapped_pruner, optuna.pruners.MedianPruner)
    hyperband = make_pruner(SweepConfig(pruner="hyperband", epochs_max=27))
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource) == (1, 27)
    assert isinstance(make_pruner(SweepConfig(pruner="none")), optuna.pruners.NopPruner)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_real_fit_with_a_real_trial_stops_after_the_first_epoch() -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.random.rand(64, 4).astype("float32"), np.random.randint(0, 3, 64)
    study = optuna.create_study(pruner=AlwaysPrune())
    trial = study.ask()
    callback = PruningCallback(trial, "val_loss")
    history = model.fit(
        x, y, validation_split=0.25, epochs=5, callbacks=[callback], verbose=0
    ).history
    assert len(history["val_loss"]) == 1
    assert callback.pruned_at_step == 0
    frozen = study.trials[0]
    assert frozen.intermediate_values == {0: pytest.approx(history["val_loss"][0])}
