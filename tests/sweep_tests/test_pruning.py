from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import optuna
import pytest

from tracking.config.errors import MonitorError
from tracking.sweep.budget import EPOCHS_ATTR, BudgetPruner
from tracking.sweep.config import SweepConfig
from tracking.sweep.pruning import PruningCallback, make_pruner


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


def test_the_last_epoch_is_reported_but_never_pruned() -> None:
    callback = _callback(PruneAt(1))
    callback.set_params({"epochs": 2})
    callback.on_epoch_end(0, {"val_loss": 0.9})
    callback.on_epoch_end(1, {"val_loss": 0.8})
    # Nothing left to save by pruning: the trial finishes and keeps its model.
    assert callback.trial.reported == [(0, 0.9), (1, 0.8)]
    assert callback.stop_reason is None and not callback.model.stop_training


def test_missing_monitor_is_an_error_at_the_first_epoch_naming_the_keys() -> None:
    callback = _callback(PruneAt(None), monitor="val_acc")
    with pytest.raises(MonitorError, match="available: loss, val_loss"):
        callback.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})


def test_a_nan_epoch_is_not_reported() -> None:
    trial = PruneAt(None)
    _callback(trial).on_epoch_end(0, {"val_loss": float("nan")})
    assert trial.reported == []


def _pruned_steps(
    pruner: optuna.pruners.BasePruner, curves: list[list[float]], epochs: int | None = None
) -> list[int | None]:
    """Run each curve as a trial, in order; the step at which each one was pruned (or None).
    ``epochs``: each trial's own epochs, as a fit's PruningCallback records them."""
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(0))
    pruned_at: list[int | None] = []
    for curve in curves:
        trial = study.ask()
        if epochs is not None:
            trial.set_user_attr(EPOCHS_ATTR, epochs)
        step_pruned = None
        for step, value in enumerate(curve):
            trial.report(value, step)
            if trial.should_prune():
                step_pruned = step
                break
        if step_pruned is None:
            study.tell(trial, curve[-1])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        pruned_at.append(step_pruned)
    return pruned_at


GOOD = [1.0, 0.5, 0.3, 0.2, 0.2, 0.2]
BAD = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
SLOW = [3.0, 2.9, 2.8, 2.85, 2.85, 2.85]  # worse than the median; best at epoch 3, then worse


def test_median_waits_for_startup_trials_and_warmup_epochs() -> None:
    sweep = SweepConfig(pruner="median", prune_startup_trials=2, prune_warmup_epochs=3)
    # Two finished trials: a bad one is pruned at the first epoch after the warm-up.
    assert _pruned_steps(make_pruner(sweep), [GOOD, GOOD, BAD]) == [None, None, 3]
    # With three start-up trials required, two finished ones prune nothing.
    sweep = SweepConfig(pruner="median", prune_startup_trials=3, prune_warmup_epochs=3)
    assert _pruned_steps(make_pruner(sweep), [GOOD, GOOD, BAD]) == [None, None, None]


def test_patient_lets_an_improving_trial_run_until_it_stalls() -> None:
    sweep = SweepConfig(pruner="patient", prune_startup_trials=2, prune_warmup_epochs=0)
    median = make_pruner(dataclasses.replace(sweep, pruner="median"))
    # The median rule alone prunes the slow trial at once...
    assert _pruned_steps(median, [GOOD, GOOD, SLOW]) == [None, None, 0]
    # ... the patient one only after prune_patience epochs without improvement.
    patient = make_pruner(dataclasses.replace(sweep, prune_patience=2))
    assert _pruned_steps(patient, [GOOD, GOOD, SLOW]) == [None, None, 5]


def test_percentile_finishes_4_startup_trials_then_keeps_the_best_quarter() -> None:
    default = SweepConfig(pruner="percentile")
    assert (default.prune_startup_trials, default.prune_warmup_epochs) == (4, 0)
    startup = [[value + 0.1 * i for value in GOOD] for i in range(4)]  # each worse than before
    better = [value - 0.05 for value in GOOD]
    near = [value + 0.05 for value in GOOD]  # better than the median, not in the best quarter
    pruned = _pruned_steps(make_pruner(default), [*startup, BAD, better, near])
    # The 4 start-up trials finish however bad; then a bad trial stops at epoch 1 (step 0: no
    # warm-up), a better one goes on, and one in the second quarter stops too.
    assert pruned == [None, None, None, None, 0, None, 0]
    # The median rule, with the same start-up and warm-up, would have kept the last one going.
    median = make_pruner(dataclasses.replace(default, pruner="median"))
    assert _pruned_steps(median, [*startup, BAD, better, near])[-1] is None


# A slow starter: worse than the others for its first 3 epochs, then the best of all.
SLOW_STARTER = [3.0, 2.0, 1.0, 0.15, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05]
FAST = [0.6, 0.4, 0.3, 0.25, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
HOPELESS = [3.0] * 10


def test_default_budget_pruner_waits_for_a_fraction_of_the_trials_own_epochs() -> None:
    default = SweepConfig(prune_startup_trials=2)
    assert (default.pruner, default.prune_warmup_fraction) == ("budget", 0.3)
    budget = make_pruner(default)
    # A 10-epoch trial trains 3 epochs (0.3 x 10) before it can be pruned: the slow starter,
    # worse than the median at epochs 1-3, is still better at epoch 4 and is never pruned...
    assert _pruned_steps(budget, [FAST, FAST, SLOW_STARTER], epochs=10) == [None, None, None]
    # ... while the median rule without a warm-up stops it after its first epoch.
    median = make_pruner(dataclasses.replace(default, pruner="median"))
    assert _pruned_steps(median, [FAST, FAST, SLOW_STARTER]) == [None, None, 0]
    # A hopeless trial is pruned at the first epoch after its warm-up (epoch 4, step 3).
    assert _pruned_steps(budget, [FAST, FAST, HOPELESS], epochs=10) == [None, None, 3]


def test_budget_warmup_follows_each_trials_own_epochs() -> None:
    budget = make_pruner(SweepConfig(prune_startup_trials=2, prune_warmup_fraction=0.5))
    # Half of 10 epochs: a hopeless trial trains 5, and stops after the 6th (step 5); of 4: 2.
    assert _pruned_steps(budget, [FAST, FAST, HOPELESS], epochs=10)[-1] == 5
    assert _pruned_steps(budget, [FAST, FAST, HOPELESS], epochs=4)[-1] == 2
    # Not a single trial is pruned before the start-up trials are complete.
    assert _pruned_steps(budget, [HOPELESS, FAST, HOPELESS], epochs=4)[:2] == [None, None]


def test_budget_pruner_refuses_a_fraction_outside_0_1() -> None:
    with pytest.raises(ValueError, match="fraction must be in"):
        BudgetPruner(optuna.pruners.NopPruner(), 1.0, 10)


def test_halving_continues_only_the_best_third_at_each_rung() -> None:
    halving = SweepConfig(pruner="halving")
    # Rungs at steps 1, 3, 9: a trial worse than the best third at step 1 stops there (epoch 2).
    assert _pruned_steps(make_pruner(halving), [GOOD, GOOD, BAD]) == [None, None, 1]
    # Each trial worse than all before it: only the first one goes on past step 1.
    worse = [[value + 0.1 * i for value in GOOD] for i in range(6)]
    assert _pruned_steps(make_pruner(halving), worse) == [None] + [1] * 5
    # Each trial better than all before it: none is pruned, whatever the rung.
    assert _pruned_steps(make_pruner(halving), worse[::-1]) == [None] * 6
    # A 7th trial goes on past step 1 only among the best two of the seven (7 // 3).
    second = worse[::-1] + [[value + 0.05 for value in GOOD]]
    third = worse[::-1] + [[value + 0.15 for value in GOOD]]
    assert _pruned_steps(make_pruner(halving), second)[-1] is None
    assert _pruned_steps(make_pruner(halving), third)[-1] == 1


def test_hyperband_prunes_bad_trials_and_none_prunes_nothing() -> None:
    curves = [GOOD] * 8 + [BAD] * 4
    hyperband = _pruned_steps(make_pruner(SweepConfig(pruner="hyperband", epochs_max=6)), curves)
    assert any(step is not None for step in hyperband[8:])  # bad trials pruned
    assert all(step is None or step < 6 for step in hyperband)
    assert _pruned_steps(make_pruner(SweepConfig(pruner="none")), curves) == [None] * 12


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
    assert frozen.user_attrs[EPOCHS_ATTR] == 5  # the fit's epochs: the budget pruner's warm-up
    # A fit of one epoch has nothing to prune: it ends completed.
    one = PruningCallback(study.ask(), "val_loss")
    history = model.fit(x, y, validation_split=0.25, epochs=1, callbacks=[one], verbose=0).history
    assert len(history["val_loss"]) == 1 and one.stop_reason is None
