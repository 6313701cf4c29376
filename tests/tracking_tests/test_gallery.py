"""The diagnosis agrees with a person's reading of real learning curves.

Each ``curves/<name>.csv`` is the ``history.csv`` of a real run of this project (recorded by
``benchmarks/record_curves.py`` with the flags in ``curves/readings.toml``), except
``issue_17.csv``, the history of issue 17 rebuilt from the numbers the issue gives. The reading
beside each (label, the epoch overfitting starts, the epochs to train, what else a person would
mention, and why) was written by hand from the plotted curves.
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tracking.report.diagnosis import diagnose

CURVES = Path(__file__).parent / "curves"
READINGS: dict[str, dict[str, Any]] = tomllib.loads((CURVES / "readings.toml").read_text())


def history(name: str) -> dict[str, list[float]]:
    with (CURVES / f"{name}.csv").open() as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in rows[0] if k not in ("epoch", "learning_rate")]
    return {k: [float(row[k]) for row in rows] for k in keys}


def within(value: int | None, reading: int | list[int]) -> bool:
    """A person gives one epoch, or a range [first, last] where the curve is too noisy for one."""
    if isinstance(reading, list):
        return value is not None and reading[0] <= value <= reading[1]
    return value == reading


def flag(flags: list[str], name: str, default: str) -> str:
    return flags[flags.index(name) + 1] if name in flags else default


def test_every_curve_has_a_history_and_a_reading() -> None:
    assert sorted(p.stem for p in CURVES.glob("*.csv")) == sorted(READINGS)
    for name, reading in READINGS.items():
        assert {"label", "recommended_epochs", "why"} <= set(reading), name
        assert ("onset" in reading) == (reading["label"] == "overfitting"), name


@pytest.mark.parametrize("name", sorted(READINGS))
def test_the_diagnosis_reads_the_curve_as_a_person_does(name: str) -> None:
    reading, flags = READINGS[name], READINGS[name].get("flags", [])
    found = diagnose(
        history(name),
        monitor=flag(flags, "--monitor", "val_loss"),
        stop_reason=reading.get("stop_reason"),
        patience=int(flag(flags, "--patience", "5")),
    )
    said = f"{name}: {found.summary}"
    assert found.label == reading["label"], said
    if "onset" in reading:
        assert within(found.overfitting_from_epoch, reading["onset"]), said
    else:
        assert found.overfitting_from_epoch is None, said
    assert within(found.recommended_epochs, reading["recommended_epochs"]), said
    # What else a person would mention, in the order that matters to them.
    assert list(found.secondary) == reading.get("secondary", []), said
    for words in reading.get("mentions", []):
        assert words in found.summary, said


def test_the_issues_history_overfits_and_wobbles_only_secondarily() -> None:
    found = diagnose(history("issue_17"))
    # Validation loss was lowest at epoch 10 (0.095): overfitting from epoch 11, train 10.
    assert found.label == "overfitting"
    assert found.overfitting_from_epoch == 11 and found.recommended_epochs == 10
    main, wobble, accuracy = found.summary.split("\n\n")
    assert main.startswith("Validation loss was lowest at epoch 10 (0.095); from epoch 11")
    # The training loss's rise from 0.0051 to 0.0123 is under 1 % of epoch 1's 1.03: a wobble.
    assert wobble.startswith("The training loss wobbles near its floor after epoch 23")
    assert "a lower learning rate or a schedule would steady it" in wobble
    assert accuracy.startswith("Validation accuracy kept improving until epoch 18")
