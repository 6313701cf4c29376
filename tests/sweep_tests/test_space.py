from __future__ import annotations

import dataclasses

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.sweep.config import SweepConfig, validate_sweep
from tracking.sweep.space import SEARCHED, direction, suggest_config


def _ask(sweep: SweepConfig, base: TrainConfig | None = None) -> tuple[optuna.Trial, TrainConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    return trial, suggest_config(trial, base or TrainConfig(), sweep)


def test_default_space_is_the_issues() -> None:
    trial, config = _ask(SweepConfig())
    assert trial.distributions == {
        "epochs": IntDistribution(5, 30),
        "batch_size": CategoricalDistribution([64, 128, 256, 512]),
        "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
        "dropout": FloatDistribution(0.0, 0.5),
        "l2": FloatDistribution(1e-6, 1e-3, log=True),
    }
    # The learning-rate schedule is one fixed choice by default: on in every trial.
    assert config.reduce_lr_patience == 2 and TrainConfig().reduce_lr_patience == 0
    searched = {name: getattr(config, name) for name in SEARCHED}
    assert searched == {**trial.params, "reduce_lr_patience": 2}


def test_several_reduce_lr_patiences_are_searched() -> None:
    trial, config = _ask(SweepConfig(reduce_lr_patiences="0,3"))
    assert trial.distributions["reduce_lr_patience"] == CategoricalDistribution([0, 3])
    assert config.reduce_lr_patience == trial.params["reduce_lr_patience"]


def test_everything_else_comes_from_the_base_config() -> None:
    base = TrainConfig(dataset="digits", hidden_units="16", monitor="val_accuracy", seed=7)
    _, config = _ask(SweepConfig(), base)
    unchanged = {f.name for f in dataclasses.fields(TrainConfig)} - set(SEARCHED)
    assert {n: getattr(config, n) for n in unchanged} == {n: getattr(base, n) for n in unchanged}


def test_equal_bounds_fix_a_parameter_instead_of_searching_it() -> None:
    sweep = SweepConfig(epochs_min=3, epochs_max=3, l2_min=0.0, l2_max=0.0, batch_sizes="64")
    trial, config = _ask(sweep)
    assert (config.epochs, config.l2, config.batch_size) == (3, 0.0, 64)
    assert set(trial.params) == {"learning_rate", "dropout"}


def test_samples_stay_within_overridden_bounds() -> None:
    sweep = SweepConfig(epochs_min=2, epochs_max=4, learning_rate_min=0.01, learning_rate_max=0.02)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = [suggest_config(study.ask(), TrainConfig(), sweep) for _ in range(30)]
    # Every draw is within the bounds, and the draws do cover the range (not one sample 30 times).
    assert {c.epochs for c in configs} == {2, 3, 4}
    rates = [c.learning_rate for c in configs]
    assert all(0.01 <= r <= 0.02 for r in rates) and len(set(rates)) == 30


def test_direction_follows_the_monitor() -> None:
    assert direction("val_loss") == "minimize" and direction("loss") == "minimize"
    assert direction("val_accuracy") == "maximize"


@pytest.mark.parametrize(
    ("changes", "parameter"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"timeout": -1.0}, "timeout"),
        ({"pruner": "sha"}, "pruner"),
        ({"storage": "optuna.db"}, "storage"),
        ({"study_name": " "}, "study_name"),
        ({"epochs_min": 0}, "epochs_min"),
        ({"epochs_min": 10, "epochs_max": 5}, "epochs_min"),
        ({"batch_sizes": "32,0"}, "batch_sizes"),
        ({"reduce_lr_patiences": "2,-1"}, "reduce_lr_patiences"),
        ({"learning_rate_min": 0.0}, "learning_rate_min"),
        ({"learning_rate_min": 0.1, "learning_rate_max": 0.001}, "learning_rate_min"),
        ({"dropout_max": 1.0}, "dropout_max"),
        ({"dropout_min": 0.4, "dropout_max": 0.2}, "dropout_min"),
        ({"l2_min": 0.0}, "l2_min"),
        ({"prune_patience": -1}, "prune_patience"),
    ],
)
def test_bad_sweep_input_names_the_parameter(changes: dict, parameter: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_sweep(SweepConfig(**changes))
    assert info.value.parameter == parameter
    assert "\n" not in str(info.value)


def test_no_l2_is_a_valid_fixed_range() -> None:
    validate_sweep(SweepConfig(l2_min=0.0, l2_max=0.0))  # accepted: raises nothing
