"""Bad input: one line naming parameter, value and fix; exit 2; no traceback; nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from pipelines.train import main
from tests.helpers import mlflow_run

CASES = {
    "learning_rate zero": (["--learning-rate", "0"], "learning_rate=0.0"),
    "learning_rate negative": (["--learning-rate", "-0.01"], "learning_rate=-0.01"),
    "dropout one": (["--dropout", "1"], "dropout=1.0"),
    "dropout negative": (["--dropout", "-0.1"], "dropout=-0.1"),
    "batch_size zero": (["--batch-size", "0"], "batch_size=0"),
    "epochs zero": (["--epochs", "0"], "epochs=0"),
    "optimizer unknown": (["--optimizer", "adamw"], "optimizer='adamw'"),
    "activation unknown": (["--activation", "reluu"], "activation='reluu'"),
    "dataset unknown": (["--dataset", "cifar10"], "dataset='cifar10'"),
    "hidden_units negative": (["--hidden-units", "300,-5"], "hidden_units='300,-5'"),
    "hidden_units words": (["--hidden-units", "big"], "hidden_units='big'"),
    "monitor misspelled": (["--monitor", "val_acc"], "monitor='val_acc'"),
    "monitor without validation": (
        ["--monitor", "val_loss", "--validation-split", "0"],
        "monitor='val_loss'",
    ),
    "epochs not a number": (["--epochs", "ten"], "--epochs"),
    "csv without path": (["--dataset", "csv"], "data_path=''"),
    "csv missing file": (["--dataset", "csv", "--data-path", "nope.csv"], "data_path='nope.csv'"),
    "regression on digits": (["--dataset", "digits", "--task", "regression"], "task='regression'"),
    "regression on mnist": (["--task", "regression"], "task='regression'"),
    "task unknown": (["--task", "ranking"], "task='ranking'"),
    "loss unknown": (["--loss", "mape"], "loss='mape'"),
    "regression loss for classes": (["--dataset", "digits", "--loss", "mse"], "loss='mse'"),
    "regression monitor for classes": (["--dataset", "digits", "--monitor", "val_mae"], "val_mae"),
}


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _csv_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good_rows = "".join(f"{i},{i * 2},{i % 3}\n" for i in range(30))
    no_label = _write(tmp_path / "no_label.csv", "a,b,target\n" + good_rows)
    text_feature = _write(
        tmp_path / "text.csv",
        "a,colour,quality\n" + "".join(f"{i},red,{i % 3}\n" for i in range(30)),
    )
    text_label = _write(
        tmp_path / "grades.csv",
        "a,b,quality\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n" for i in range(30)),
    )
    unreadable = tmp_path / "locked.csv"
    unreadable.mkdir()
    return {
        "csv regression on a text label": (
            ["--dataset", "csv", "--data-path", text_label, "--task", "regression"],
            "label_column='quality' is not numeric",
        ),
        "csv regression monitoring accuracy": (
            [
                "--dataset",
                "csv",
                "--data-path",
                no_label,
                "--label-column",
                "target",
                "--task",
                "regression",
                "--monitor",
                "val_accuracy",
            ],
            "monitor='val_accuracy'",
        ),  # fmt: skip
        "csv without label column": (
            ["--dataset", "csv", "--data-path", no_label],
            "label_column='quality'",
        ),
        "csv non-numeric feature": (["--dataset", "csv", "--data-path", text_feature], "colour"),
        "csv path is a directory": (
            ["--dataset", "csv", "--data-path", str(unreadable)],
            "data_path=",
        ),
    }


def _check_refused(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if " INFO " not in line]
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("error: ") and expected in err[0], err[0]
    assert "Traceback" not in err[0]
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert MlflowClient().search_registered_models() == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_in_one_line(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, expected = CASES[case]
    _check_refused(argv, expected, capsys)


@pytest.mark.parametrize(
    "case", ["csv without label column", "csv non-numeric feature", "csv path is a directory"]
)
def test_bad_csv_is_refused_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expected = _csv_cases(tmp_path)[case]
    _check_refused(argv, expected, capsys)


HEAVY = ("tensorflow", "keras", "mlflow", "pandas", "matplotlib")


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("train", ["--dropout", "2"]),
        ("train", ["--dataset", "csv", "--data-path", "README.md", "--label-column", "x"]),
        ("sweep", ["--n-trials", "0"]),
        ("evaluate", ["--dataset", "csv"]),
    ],
)
def test_bad_input_is_refused_before_anything_heavy_is_imported(
    repo: Path, module: str, argv: list[str]
) -> None:
    code = (
        f"import sys; from pipelines.{module} import main; rc = main({argv!r});"
        f"print(rc, *[m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{repo / 'src'}"},
    )
    assert done.stdout.split() == ["2"], done.stderr  # refused, and none of HEAVY was loaded


def test_bad_input_under_mlflow_run_fails_its_run(
    repo: Path, tmp_path: Path, tracking_store: str
) -> None:
    """`mlflow run` opens a run before our code starts: it must end FAILED, not RUNNING."""
    done = mlflow_run(tmp_path, tracking_store, learning_rate=0, dataset="digits")
    assert done.returncode != 0
    assert "error: learning_rate=0.0 must be greater than 0" in done.stderr
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "FAILED"
    assert MlflowClient().search_registered_models() == []
