from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tracking.config import TrainConfig, parse_train_args, validate
from tracking.errors import ConfigError


def _mlproject(repo: Path) -> dict:
    return yaml.safe_load((repo / "MLproject").read_text())


def test_mlproject_params_cli_flags_and_defaults_agree(repo: Path) -> None:
    params = _mlproject(repo)["entry_points"]["main"]["parameters"]
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(params) == set(fields)
    defaults = parse_train_args([])
    assert defaults == TrainConfig()
    # The MLproject default, passed through the CLI as `mlflow run` would, gives the same config.
    argv = []
    for name, spec in params.items():
        argv += [f"--{name.replace('_', '-')}", str(spec["default"])]
    assert parse_train_args(argv) == TrainConfig()


def test_mlproject_command_passes_every_parameter(repo: Path) -> None:
    main = _mlproject(repo)["entry_points"]["main"]
    for name in main["parameters"]:
        assert f"--{name.replace('_', '-')} {{{name}}}" in main["command"]


def test_underscore_flags_are_accepted_too() -> None:
    assert parse_train_args(["--learning_rate", "0.01"]).learning_rate == 0.01


def test_units_and_monitor_mode() -> None:
    c = TrainConfig(hidden_units="64,32", monitor="val_accuracy")
    assert c.units == (64, 32)
    assert c.monitor_mode == "max"
    assert TrainConfig().monitor_mode == "min"


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
    assert validate(TrainConfig(validation_split=0.0, monitor="loss"))


def test_csv_needs_a_data_path() -> None:
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig(dataset="csv"))
    assert info.value.parameter == "data_path"


def test_unparsable_flag_is_one_line_exit_2() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tracking.config import parse_train_args as p; p(['--epochs', 'ten'])",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--epochs" in out.stderr
