from __future__ import annotations

import dataclasses

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.sweep.config import SweepConfig
from tracking.sweep.opening import enqueued_base
from tracking.sweep.space import SEARCHED, direction, hidden_units, suggest_config
from tracking.sweep.validation import validate_sweep


def _ask(sweep: SweepConfig, base: TrainConfig | None = None) -> tuple[optuna.Trial, TrainConfig]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    return trial, suggest_config(trial, base or TrainConfig(), sweep)


def test_default_space_for_the_built_in_mlp() -> None:
    trial, config = _ask(SweepConfig())
    lr = (
        {"sgd_learning_rate": FloatDistribution(0.05, 0.3, log=True)}
        if trial.params["optimizer"] == "sgd"
        else {"learning_rate": FloatDistribution(3e-4, 3e-3, log=True)}
    )
    assert trial.distributions == {
        "epochs": IntDistribution(5, 30),
        "batch_size": CategoricalDistribution([32, 64, 128, 256]),
        "optimizer": CategoricalDistribution(["adam", "rmsprop", "sgd"]),
        **lr,
        "dropout": FloatDistribution(0.0, 0.5),
        "l2": FloatDistribution(1e-6, 1e-3, log=True),
        "reduce_lr_patience": CategoricalDistribution([1, 2, 3]),
        "batch_norm": CategoricalDistribution([False, True]),
        "hidden_layers": IntDistribution(1, 3),
        "hidden_width": IntDistribution(64, 512, log=True),
        "translation": FloatDistribution(0.0, 0.15),
    }
    p = trial.params
    assert config.learning_rate == p.get("learning_rate", p.get("sgd_learning_rate"))
    assert config.hidden_units == hidden_units(p["hidden_layers"], p["hidden_width"])
    assert (config.optimizer, config.batch_norm) == (p["optimizer"], p["batch_norm"])
    assert config.translation == p["translation"]


@pytest.mark.parametrize("dataset", ["digits", "csv", "npz"])
def test_translation_is_searched_on_images_only(dataset: str) -> None:
    """digits' 8x8 pictures, a CSV's rows and an npz of unknown shape get no random shift;
    the same sweep on MNIST draws it (above)."""
    base = TrainConfig(dataset=dataset, data_path="" if dataset == "digits" else "d")
    trial, config = _ask(SweepConfig(), base)
    assert "translation" not in trial.distributions and config.translation == 0.0


def test_hidden_units_step_down_evenly_from_the_width() -> None:
    assert hidden_units(3, 300) == "300,200,100"  # the base configuration's
    assert hidden_units(2, 64) == "64,32" and hidden_units(1, 512) == "512"


def test_each_optimizer_draws_its_own_learning_rate_only() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        config = suggest_config(trial, TrainConfig(), SweepConfig())
        optimizer = trial.params["optimizer"]
        seen.add(optimizer)
        # sgd has its own range; adam and rmsprop share theirs; never both in one trial.
        own = "sgd_learning_rate" if optimizer == "sgd" else "learning_rate"
        other = "learning_rate" if optimizer == "sgd" else "sgd_learning_rate"
        assert own in trial.params and other not in trial.params
        assert config.learning_rate == trial.params[own]
        low, high = (0.05, 0.3) if optimizer == "sgd" else (3e-4, 3e-3)
        assert low <= config.learning_rate <= high
    assert seen == {"adam", "rmsprop", "sgd"}


def test_a_users_model_gets_no_built_in_mlp_dimension() -> None:
    base = TrainConfig(model="examples/cnn.py:build", dataset="digits", optimizer="rmsprop")
    trial, config = _ask(SweepConfig(), base)
    assert set(trial.params) == {
        "epochs", "batch_size", "learning_rate", "dropout", "l2", "reduce_lr_patience",
    }  # fmt: skip
    assert (config.optimizer, config.hidden_units) == ("rmsprop", "300,200,100")
    assert config.batch_norm is False


def test_several_reduce_lr_patiences_are_searched() -> None:
    trial, config = _ask(SweepConfig(reduce_lr_patiences="0,3"))
    assert trial.distributions["reduce_lr_patience"] == CategoricalDistribution([0, 3])
    assert config.reduce_lr_patience == trial.params["reduce_lr_patience"]


def test_everything_else_comes_from_the_base_config() -> None:
    base = TrainConfig(dataset="digits", hidden_units="16", monitor="val_accuracy", seed=7)
    _, config = _ask(SweepConfig(), base)
    unchanged = {f.name for f in dataclasses.fields(TrainConfig)} - set(SEARCHED)
    assert {n: getattr(config, n) for n in unchanged} == {n: getattr(base, n) for n in unchanged}


def test_equal_bounds_or_one_choice_fix_a_dimension_instead_of_searching_it() -> None:
    sweep = SweepConfig(
        epochs_min=3, epochs_max=3, l2_min=0.0, l2_max=0.0, batch_sizes="64",
        optimizers="sgd", batch_norms="true", hidden_layers_min=2, hidden_layers_max=2,
        hidden_width_min=128, hidden_width_max=128, reduce_lr_patiences="2",
        translation_min=0.1, translation_max=0.1,
    )  # fmt: skip
    trial, config = _ask(sweep)
    assert (config.epochs, config.l2, config.batch_size, config.translation) == (3, 0.0, 64, 0.1)
    assert (config.optimizer, config.batch_norm, config.hidden_units) == ("sgd", True, "128,64")
    assert set(trial.params) == {"sgd_learning_rate", "dropout"}


def test_the_base_configuration_is_trial_0_inside_the_space() -> None:
    wanted = enqueued_base(TrainConfig(), SweepConfig())
    assert wanted == {
        "epochs": 20, "batch_size": 128, "optimizer": "adam", "learning_rate": 1e-3,
        "dropout": 0.2, "l2": 1e-6, "reduce_lr_patience": 2, "batch_norm": False,
        "hidden_layers": 3, "hidden_width": 300, "translation": 0.0,
    }  # fmt: skip
    # Given back as a trial's params, it is the base configuration (l2 0 -> the log range's 1e-6).
    config = suggest_config(optuna.trial.FixedTrial(wanted), TrainConfig(), SweepConfig())
    assert config == dataclasses.replace(TrainConfig(), l2=1e-6)
    # An sgd base keeps its learning rate in sgd's own dimension.
    sgd = enqueued_base(TrainConfig(optimizer="sgd", learning_rate=0.05), SweepConfig())
    assert sgd["sgd_learning_rate"] == 0.05 and "learning_rate" not in sgd


def test_samples_stay_within_overridden_bounds() -> None:
    sweep = SweepConfig(
        epochs_min=2,
        epochs_max=4,
        learning_rate_min=0.01,
        learning_rate_max=0.02,
        optimizers="adam",
    )
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
        ({"prune_warmup_fraction": 1.0}, "prune_warmup_fraction"),
        ({"sampler": "bayes"}, "sampler"),
        ({"optimizers": "adam,adagrad"}, "optimizers"),
        ({"batch_norms": "false,maybe"}, "batch_norms"),
        ({"hidden_layers_min": 0}, "hidden_layers_min"),
        ({"hidden_width_min": 600}, "hidden_width_min"),
        ({"sgd_learning_rate_min": 0.5}, "sgd_learning_rate_min"),
        ({"stop_after": -1}, "stop_after"),
        ({"target": "high"}, "target"),
    ],
)
def test_bad_sweep_input_names_the_parameter(changes: dict, parameter: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_sweep(SweepConfig(**changes))
    assert info.value.parameter == parameter
    assert "\n" not in str(info.value)


def test_no_l2_is_a_valid_fixed_range() -> None:
    validate_sweep(SweepConfig(l2_min=0.0, l2_max=0.0))  # accepted: raises nothing
