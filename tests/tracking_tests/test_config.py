from __future__ import annotations

import dataclasses

import pytest

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig, monitor_mode, validate


def test_units_and_monitor_mode() -> None:
    c = TrainConfig(hidden_units="64,32", monitor="val_accuracy")
    assert c.units == (64, 32)
    assert c.monitor_mode == "max"
    assert TrainConfig().monitor_mode == "min"
    # A metric's direction is its own; an unknown one is an error, not a guess from a substring.
    assert monitor_mode("loss") == "min" and monitor_mode("accuracy") == "max"
    with pytest.raises(ValueError, match="val_acc"):
        monitor_mode("val_acc")


BAD = [
    ("learning_rate", 0.0),
    ("learning_rate", -0.1),
    ("dropout", 1.0),
    ("dropout", -0.2),
    ("batch_size", 0),
    ("epochs", 0),
    ("optimizer", "adamw"),
    ("activation", "relux"),
    ("dataset", "cifar"),
    ("kernel_initializer", "zeros"),
    ("hidden_units", "300,-1"),
    ("hidden_units", "a,b"),
    ("hidden_units", ""),
    ("validation_split", 1.0),
    ("monitor", "val_acc"),
    ("patience", -1),
    ("l2", -1e-4),
    ("max_train_samples", -5),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_bad_values_name_parameter_value_and_fix(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        validate(dataclasses.replace(TrainConfig(), **{name: value}))
    assert info.value.parameter == name
    message = str(info.value)
    assert f"{name}={value!r}" in message and "\n" not in message
    assert "pass" in message or "use one of" in message


def test_val_monitor_without_validation_split_is_refused() -> None:
    with pytest.raises(ConfigError, match="validation_split"):
        validate(TrainConfig(validation_split=0.0, monitor="val_loss"))
    validate(TrainConfig(validation_split=0.0, monitor="loss"))  # accepted: raises nothing


def test_csv_needs_a_data_path() -> None:
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig(dataset="csv"))
    assert info.value.parameter == "data_path"
