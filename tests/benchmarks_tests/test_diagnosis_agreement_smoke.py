"""``benchmarks/diagnosis_agreement.py`` on tiny settings (digits, 400 rows of which 80 for
validation, one training of 6 epochs read at 4 and 6, and one of 4 epochs to compare) into a
temporary file: the grid is trained for real, each reading is labelled twice, and the confusion
table adds up; ``--histories`` reads the kept histories again. The figures are not checked, only
their sanity; the benchmark itself (MNIST, 12 trainings) is run by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from diagnosis_agreement import LABELS, confusion, reference_reading  # noqa: E402
from report import render  # noqa: E402


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-diagnosis") / "diagnosis_agreement.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "diagnosis_agreement.py"),
            "--dataset",
            "digits",
            "--max-train-samples",
            "400",
            "--validation-split",
            "0.2",
            "--epochs",
            "6",
            "--learning-rates",
            "0.01",
            "--batch-sizes",
            "32",
            "--dropouts",
            "0",
            "--read-at",
            "4,6",
            "--out",
            str(out),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def result(out: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def test_every_training_is_read_at_every_epoch_count_by_both_readers(
    result: dict[str, Any],
) -> None:
    assert result["n_trainings"] == 1 and result["n_readings"] == 2
    assert result["note"] and result["cpus"] and result["settings"]["dataset"] == "digits"
    for reading in result["readings"]:
        assert reading["diagnosis"] in LABELS
        assert reading["reference"] in LABELS
        assert reading["epochs"] in (4, 6)
    # Each run's logged history is kept, one value per epoch trained, and the run trained on
    # the rows asked for: 400, a fifth of them (80) for validation.
    assert result["validation_rows"] == 80
    for run in result["runs"]:
        assert len(run["history"]["val_loss"]) == 6
        assert run["data"] == {"max_train_samples": "400", "validation_split": "0.2"}


def test_the_confusion_table_and_the_agreement_add_up(result: dict[str, Any]) -> None:
    table = result["confusion"]
    assert sum(sum(row.values()) for row in table.values()) == result["n_readings"]
    on_diagonal = sum(table[label][label] for label in LABELS)
    assert result["agreement"] == on_diagonal / result["n_readings"]
    assert result["targets"]["met"] == (result["agreement"] >= 0.9)
    assert len(result["disagreements"]) == result["n_readings"] - on_diagonal


def test_a_short_run_logs_the_first_epochs_of_a_longer_one(result: dict[str, Any]) -> None:
    check = result["prefix_check"]
    assert check["epochs"] == 4
    # Same seed, same data: the 4-epoch run's curves are the 6-epoch run's first 4 epochs.
    assert check["max_relative_difference"] < 1e-3


def test_the_report_renders_a_row_for_it(out: Path, result: dict[str, Any]) -> None:
    (row,) = [line for line in render(out.parent).splitlines() if "diagnosis_agreement" in line]
    assert row.startswith("| Diagnosis agreement (digits, 400 rows, ")
    day = str(result["finished"]).split()[0]
    assert f"{day}; `diagnosis_agreement.json`) |" in row
    assert f"{100 * result['agreement']:.2f} %" in row and row.count(" | ") == 3
    assert "1 real trainings, 80 validation rows (read at 4, 6 epochs)" in row


def test_histories_are_read_again_with_the_settings_they_were_trained_with(
    out: Path, result: dict[str, Any]
) -> None:
    again = out.parent / "again.json"
    script = str(REPO / "benchmarks" / "diagnosis_agreement.py")
    command = [
        sys.executable,
        script,
        "--histories",
        str(out),
        "--read-at",
        "4",
        "--out",
        str(again),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    reread: dict[str, Any] = json.loads(again.read_text())
    # Not the defaults (MNIST, 10 000 rows, a quarter for validation, 30 epochs): the earlier
    # result's, so that the row, the validation rows and the patience describe the same runs.
    for key in ("dataset", "max_train_samples", "validation_split", "epochs"):
        assert reread["settings"][key] == result["settings"][key], key
    assert reread["validation_rows"] == 80
    assert reread["trained_minutes"] == result["trained_minutes"]
    # The same histories, the same reading at 4 epochs (no new training: the runs are kept).
    assert reread["runs"] == result["runs"]
    (first,) = reread["readings"]
    assert first == next(r for r in result["readings"] if r["epochs"] == 4)


def test_the_reference_reads_textbook_curves() -> None:
    epochs = range(20)
    falling = [1 / (e + 1) for e in epochs]
    bottom_at_8 = [(e - 8) ** 2 / 500 + 0.1 for e in epochs]
    assert reference_reading({"loss": falling, "val_loss": bottom_at_8}) == "overfitting"
    assert reference_reading({"loss": falling, "val_loss": falling}) == "still_improving"
    assert reference_reading({"loss": [2.3] * 20, "val_loss": [2.3] * 20}) == "underfitting"
    assert reference_reading({"loss": [*falling[:-1], float("nan")]}) == "diverged"
    flat = [max(8 - e, 0) / 10 + 0.1 for e in epochs]
    assert reference_reading({"loss": falling, "val_loss": flat}) == "converged"
    assert confusion([("converged", "overfitting")])["converged"]["overfitting"] == 1
