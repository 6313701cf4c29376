"""One configuration surface: MLproject, the CLI and the dataclasses agree, and
docs/parameters.md is generated from the dataclasses (``pipelines/parameters_page.py``)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import evaluate, parameters_page, sweep, train
from tracking.config.params import param_text
from tracking.config.train import DATA_FIELDS, TrainConfig
from tracking.sweep.config import SweepConfig


def _entry(repo: Path, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = yaml.safe_load((repo / "MLproject").read_text())["entry_points"][name]
    return entry


def _argv_of_defaults(entry: dict[str, Any]) -> list[str]:
    """What `mlflow run` passes when every parameter keeps its MLproject default."""
    argv = []
    for name, spec in entry["parameters"].items():
        # Every parameter is passed explicitly, under its own flag.
        assert f"--{name.replace('_', '-')} {{{name}}}" in entry["command"], name
        argv += [f"--{name.replace('_', '-')}", str(spec["default"])]
    return argv


def _names(*classes: type) -> list[str]:
    return [f.name for cls in classes for f in dataclasses.fields(cls)]


def test_main_entry_point_is_train_config_plus_resume(repo: Path) -> None:
    entry = _entry(repo, "main")
    assert list(entry["parameters"]) == _names(TrainConfig, train.ResumeOptions)
    assert train.parse_all([]) == (TrainConfig(), train.ResumeOptions())
    # The MLproject defaults, passed through the CLI as `mlflow run` does, give the defaults.
    assert train.parse_all(_argv_of_defaults(entry)) == (TrainConfig(), train.ResumeOptions())


def test_sweep_entry_point_is_train_plus_sweep_config(repo: Path) -> None:
    entry = _entry(repo, "sweep")
    assert list(entry["parameters"]) == _names(TrainConfig, SweepConfig)
    assert sweep.parse([]) == (TrainConfig(), SweepConfig())
    assert sweep.parse(_argv_of_defaults(entry)) == (TrainConfig(), SweepConfig())
    base, config = sweep.parse(
        ["--dataset", "digits", "--n-trials", "3", "--epochs_max", "9", "--pruner", "none"]
    )
    assert base.dataset == "digits"
    assert (config.n_trials, config.epochs_max, config.pruner) == (3, 9, "none")


def test_evaluate_accepts_only_what_scoring_needs(repo: Path) -> None:
    entry = _entry(repo, "evaluate")
    assert list(entry["parameters"]) == ["model_uri", *DATA_FIELDS]
    options, data = evaluate.parse(_argv_of_defaults(entry))
    assert options == evaluate.EvaluateConfig() and data == TrainConfig()
    # A training-only flag is refused by the evaluate command line.
    with pytest.raises(SystemExit) as done:
        evaluate.parse(["--epochs", "3"])
    assert done.value.code == 2


def test_underscore_flags_are_accepted_too() -> None:
    assert train.parse(["--learning_rate", "0.01"]).learning_rate == 0.01


def test_unparsable_flag_is_one_line_exit_2(repo: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from pipelines.train import parse; parse(['--epochs', 'ten'])"],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'src'}"},
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--epochs" in out.stderr


@pytest.mark.parametrize(
    ("module", "given", "meant"),
    [
        ("pipelines.train", ["--epoch", "2"], "--epochs (-P epochs)"),
        ("pipelines.train", ["--learning-rat=0.1"], "--learning-rate (-P learning_rate)"),
        ("pipelines.sweep", ["--n-trial", "2"], "--n-trials (-P n_trials)"),
    ],
)
def test_a_flag_not_known_by_name_is_refused_with_the_one_meant(
    repo: Path, module: str, given: list[str], meant: str
) -> None:
    # argparse would complete "--epoch" to "--epochs": `mlflow run -P epoch=2` trained 2 epochs.
    out = subprocess.run(
        [sys.executable, "-m", module, *given],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'src'}"},
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert line.count("\n") == 0, line  # one line, no traceback
    flag = given[0].split("=")[0]
    assert f"unknown flag {flag} " in line and f"did you mean {meant}?" in line, line


def test_a_flag_like_none_is_refused_without_a_guess() -> None:
    with pytest.raises(SystemExit) as done:
        train.parse(["--zzz", "1"])
    assert done.value.code == 2
    with pytest.raises(SystemExit) as done:
        evaluate.parse(["--model", "models:/x/1"])  # an abbreviation of --model-uri
    assert done.value.code == 2


def test_the_parameters_page_is_generated_from_the_dataclasses(repo: Path) -> None:
    # docs/parameters.md is what `python -m pipelines.parameters_page` writes, to the byte.
    assert (repo / "docs" / "parameters.md").read_text() == parameters_page.render(), (
        "docs/parameters.md is out of date: run `python -m pipelines.parameters_page`"
    )


def _page_table(heading: str) -> dict[str, str]:
    """The rendered table under ``## heading``: parameter name -> default as written."""
    text = parameters_page.render()
    start = text.index(f"\n## {heading}\n")
    rows: dict[str, str] = {}
    for line in text[start:].splitlines()[2:]:
        if line.startswith("## "):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def _same_default(written: str, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(default, str):
        return written.strip('"') == param_text(default)
    return float(written) == float(default)


@pytest.mark.parametrize(
    ("heading", "classes"),
    [("Train", (TrainConfig, train.ResumeOptions)), ("Sweep", (SweepConfig,))],
)
def test_the_parameters_page_lists_every_field_with_its_default(
    heading: str, classes: tuple[type, ...]
) -> None:
    table = _page_table(heading)
    fields = {f.name: f.default for cls in classes for f in dataclasses.fields(cls)}
    assert list(table) == list(fields)  # every parameter, in the dataclass's order
    wrong = {k: v for k, v in table.items() if not _same_default(v, fields[k])}
    assert wrong == {}, f"docs/parameters.md defaults differ from the code: {wrong}"
    # The evaluate entry point's page section names what its parser takes.
    assert list(_page_table("Evaluate")) == ["model_uri", *DATA_FIELDS]
