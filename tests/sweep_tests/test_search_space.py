"""-P search_space: the YAML file's entries parsed, drawn with Optuna next to the built-in five,
and given to the base trial; every bad file or entry refused in one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.model.build import model_params
from tracking.sweep.config import SweepConfig
from tracking.sweep.dimensions import space_of
from tracking.sweep.opening import enqueued_base
from tracking.sweep.search_space import Entry, entries
from tracking.sweep.space import suggest_config
from tracking.sweep.validation import validate_sweep

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
parameters:
  filters: {values: [8, 16, 32]}
  kernel_size: {distribution: int_uniform, min: 3, max: 5}
  width: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  rate: {distribution: uniform, min: 0.1, max: 0.3, default: 0.25}
  pooling: {value: max}
"""


def _space(tmp_path: Path, text: str) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return str(path)


def test_a_good_file_parses_into_its_entries(tmp_path: Path) -> None:
    assert entries(_space(tmp_path, GOOD)) == (
        Entry("filters", "categorical", (8, 16, 32)),
        Entry("kernel_size", "int_uniform", (), 3, 5),
        Entry("width", "log_uniform_values", (), 0.0001, 0.1),
        Entry("rate", "uniform", (), 0.1, 0.3, 0.25),
        Entry("pooling", "constant", ("max",)),
    )
    assert entries("") == ()


def test_the_example_space_is_valid_for_the_example_cnn() -> None:
    names = {e.name for e in entries(str(REPO / "examples" / "cnn_space.yaml"))}
    source = (REPO / "examples" / "cnn.py").read_text()
    assert names and all(f'params.get("{name}"' in source for name in names)


def test_entries_are_drawn_with_optuna_next_to_the_built_in_ones(tmp_path: Path) -> None:
    sweep = SweepConfig(search_space=_space(tmp_path, GOOD))
    base = TrainConfig(params='{"filters": 16, "mine": 1}')
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    config = suggest_config(trial, base, sweep)
    assert {k: trial.distributions[k] for k in ("filters", "kernel_size", "width", "rate")} == {
        "filters": CategoricalDistribution([8, 16, 32]),
        "kernel_size": IntDistribution(3, 5),
        "width": FloatDistribution(0.0001, 0.1, log=True),
        "rate": FloatDistribution(0.1, 0.3),
    }
    assert {"epochs", "batch_size", "learning_rate", "dropout", "l2"} < set(trial.params)
    # The model function's params: the trial's draws over -P params, the constant, the rest kept.
    own = {k: trial.params[k] for k in ("filters", "kernel_size", "width", "rate")}
    assert config.user_params == {**own, "pooling": "max", "mine": 1}
    assert json.loads(config.params) == config.user_params
    assert model_params(config)["kernel_size"] == trial.params["kernel_size"]


def test_the_base_trial_takes_params_then_default_then_first_choice_or_middle(
    tmp_path: Path,
) -> None:
    sweep = SweepConfig(search_space=_space(tmp_path, GOOD))
    wanted = enqueued_base(TrainConfig(params='{"kernel_size": 9}'), sweep)
    assert wanted["filters"] == 8  # the first choice
    assert wanted["kernel_size"] == 5  # -P params' 9, brought into [3, 5]
    assert wanted["width"] == pytest.approx(0.0001**0.5 * 0.1**0.5)  # the geometric middle
    assert wanted["rate"] == 0.25  # its default
    assert "pooling" not in wanted and wanted["epochs"] == 20
    assert wanted["hidden_layers"] == 3 and wanted["hidden_width"] == 300  # 300,200,100
    assert enqueued_base(TrainConfig(params='{"filters": 32}'), sweep)["filters"] == 32


BAD = {
    "missing file": (None, "names a file that does not exist"),
    "bad yaml": ("parameters:\n  filters: {values: [8, 16\n", "is not valid YAML at line"),
    "no parameters": ("method: bayes\n", "has no 'parameters:' mapping"),
    "other top key": ("method: bayes\nparameters: {a: {values: [1]}}\n", "key 'method'"),
    "unknown distribution": (
        "parameters:\n  width: {distribution: normal, min: 0, max: 1}\n",
        "entry 'width' has unknown distribution 'normal'",
    ),
    "min above max": (
        "parameters:\n  kernel_size: {distribution: int_uniform, min: 5, max: 3}\n",
        "entry 'kernel_size' has min=5 above max=3",
    ),
    "clash with built-in": (
        "parameters:\n  hidden_units: {values: ['300,100']}\n",
        "entry 'hidden_units' is a built-in parameter",
    ),
    "empty values": ("parameters:\n  filters: {values: []}\n", "entry 'filters' has no values"),
    "log from zero": (
        "parameters:\n  width: {distribution: log_uniform_values, min: 0, max: 1}\n",
        "entry 'width' has min=0 on a log scale",
    ),
    "missing bound": (
        "parameters:\n  width: {distribution: uniform, min: 0}\n",
        "entry 'width' has max=None, not a number",
    ),
    "unknown key": ("parameters:\n  filters: {choices: [8]}\n", "entry 'filters' has unknown key"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_file_or_entry_is_one_line_naming_it_and_the_fix(tmp_path: Path, case: str) -> None:
    text, problem = BAD[case]
    path = str(tmp_path / "nope.yaml") if text is None else _space(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        validate_sweep(SweepConfig(search_space=path))
    message = str(raised.value)
    assert raised.value.parameter == "search_space" and "\n" not in message
    assert message.startswith(f"search_space={path!r} ") and problem in message, message
    assert "; " in message  # ... and the fix after it


NARROW = """\
parameters:
  batch_norm: {value: true}
  optimizer: {values: [adam, rmsprop]}
  hidden_layers: {distribution: int_uniform, min: 2, max: 3}
  learning_rate: {distribution: log_uniform_values, min: 0.0005, max: 0.002}
  filters: {values: [8, 16]}
"""


def test_a_space_file_fixes_or_narrows_the_sweeps_own_dimensions(tmp_path: Path) -> None:
    sweep = SweepConfig(search_space=_space(tmp_path, NARROW))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        config = suggest_config(trial, TrainConfig(), sweep)
        # Fixed: on in every trial, and not a searched param; narrowed: drawn in the file's range.
        assert config.batch_norm is True and "batch_norm" not in trial.params
        assert trial.distributions["optimizer"] == CategoricalDistribution(["adam", "rmsprop"])
        assert trial.distributions["hidden_layers"] == IntDistribution(2, 3)
        assert trial.distributions["learning_rate"] == FloatDistribution(0.0005, 0.002, log=True)
        assert 0.0005 <= config.learning_rate <= 0.002 and len(config.units) in (2, 3)
        # The file's own entries still reach the model function, the built-in ones do not.
        assert config.user_params == {"filters": trial.params["filters"]}
    # Trial 0 is the base configuration, brought into the narrowed space.
    wanted = enqueued_base(TrainConfig(learning_rate=0.01), sweep)
    assert wanted["learning_rate"] == 0.002 and "batch_norm" not in wanted


def test_mlp_shape_names_are_a_users_own_for_a_users_model(tmp_path: Path) -> None:
    text = "parameters:\n  hidden_layers: {values: [1, 2]}\n  epochs: {value: 4}\n"
    sweep = SweepConfig(search_space=_space(tmp_path, text))
    base = TrainConfig(model="examples/cnn.py:build", dataset="digits")
    trial = optuna.create_study().ask()
    config = suggest_config(trial, base, sweep)
    # hidden_layers goes to the user's model in params; epochs is still the sweep's, fixed.
    assert config.user_params == {"hidden_layers": trial.params["hidden_layers"]}
    assert config.epochs == 4 and "epochs" not in trial.params


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        ("optimizer: {values: [adam, adagrad]}", "'optimizer' cannot take ('adam', 'adagrad')"),
        ("epochs: {distribution: uniform, min: 5, max: 10}", "'epochs' cannot take"),
        ("batch_norm: {values: [yes please]}", "'batch_norm' cannot take"),
        ("dropout: {distribution: uniform, min: 0, max: 1}", "'dropout' cannot take (0, 1)"),
    ],
)
def test_a_bad_value_for_a_dimension_is_refused_naming_it(
    tmp_path: Path, entry: str, shown: str
) -> None:
    path = _space(tmp_path, f"parameters:\n  {entry}\n")
    with pytest.raises(ConfigError) as raised:
        space_of(TrainConfig(), SweepConfig(search_space=path))
    assert raised.value.parameter == "search_space" and shown in str(raised.value)
    assert "give e.g." in str(raised.value)
