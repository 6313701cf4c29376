"""How often the diagnosis agrees with a simple, separate reading of the same real curves.

A grid of real trainings (``python -m pipelines.train`` through ``curves.record``): learning
rate x batch size x dropout, each trained ``--epochs`` epochs without early stopping
(``--patience`` = epochs), then read at each of ``--read-at`` epochs (the first N epochs of the
history: what an N-epoch run of the same seed logs; one N-epoch run is trained for real to
check that, see ``prefix_check``). Every reading is labelled twice: by
``tracking.report.diagnosis.diagnose`` and by ``reference_reading`` below, a crude reading written
apart from the diagnosis's rules (no noise estimate, no smoothing windows): where the
validation loss bottoms out, how far it comes back up by the end, and what the training loss does
meanwhile. Writes the confusion table (rows: diagnosis, columns: reference) and the agreement.

    .venv/bin/python benchmarks/diagnosis_agreement.py [--max-train-samples 10000] [--epochs 30]
    .venv/bin/python benchmarks/diagnosis_agreement.py --histories RESULT [--read-at 10,30]

The second form reads the histories an earlier result kept (``runs``) again, without training
(with the settings they were trained with): how a change of the rules, or other read-out
epochs, read the same real curves (RESULT: ``benchmarks/results/diagnosis_agreement.json``).

Defaults: MNIST capped at 10 000 rows, a quarter of them (2 500) held out for validation: four
times the rows of a 6 000-row cap with the default split of 0.1, which halves the sampling
noise of the validation loss, while keeping the grid to minutes;
learning rates 1e-4, 1e-3, 1e-2; batch sizes 32, 256; dropout 0, 0.5; read at 10 and 30
epochs: 12 trainings, 24 readings. Writes ``benchmarks/results/diagnosis_agreement.json``.
Target: agreement >= 90 %. Not run by CI.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common import add_data_flags, write_result
from curves import record

from tracking.report.diagnosis import diagnose

LABELS = ("still_improving", "converged", "overfitting", "underfitting", "diverged")
TARGET = 0.90
TRAINING_SETTINGS = (  # what --histories takes from the earlier result's settings
    "dataset", "max_train_samples", "validation_split", "epochs", "seed",
    "learning_rates", "batch_sizes", "dropouts",
)  # fmt: skip


def reference_reading(history: Mapping[str, Sequence[float]]) -> str:
    """A person's quick reading of the loss curves, in five labels.

    Diverged: a NaN/inf loss, or the training loss ends above where it started, or ends more than
    twice its lowest and a fifth of the way back to where it started. Underfitting: the training
    loss never got below 90 % of epoch 1's. Otherwise look where the validation loss bottoms out:
    in the last fifth of the run (or its last 2 epochs) and lower by 2 % than anything before
    that stretch, the model is still improving; before that, if the median of its last 3 epochs
    is 8 % or more above the bottom and the training loss is lower at the end than at the bottom,
    it overfits; anything else has converged.
    """
    loss, val = list(history["loss"]), list(history.get("val_loss") or history["loss"])
    if not all(math.isfinite(v) for v in [*loss, *val]):
        return "diverged"
    start, lowest, end = loss[0], min(loss), loss[-1]
    if end > start or (end > 2 * lowest and end - lowest > 0.2 * (start - lowest)):
        return "diverged"
    if lowest > 0.9 * start:
        return "underfitting"
    n = len(val)
    bottom = min(range(n), key=val.__getitem__)
    stretch = max(2, math.ceil(n / 5))
    if bottom >= n - stretch:
        before = min(val[: n - stretch], default=math.inf)
        return "still_improving" if val[bottom] < 0.98 * before else "converged"
    last3 = sorted(val[-3:])[1]
    if last3 >= 1.08 * val[bottom] and sorted(loss[-3:])[1] < loss[bottom]:
        return "overfitting"
    return "converged"


def confusion(pairs: Sequence[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """Rows: the diagnosis's label, columns: the reference's; every label, zeros included."""
    table = {row: dict.fromkeys(LABELS, 0) for row in LABELS}
    for ours, reference in pairs:
        table[ours][reference] += 1
    return table


def read(history: Mapping[str, Sequence[float]], epochs: int, patience: int) -> dict[str, Any]:
    cut = {k: list(v)[:epochs] for k, v in history.items() if k not in ("step", "epoch")}
    found = diagnose(cut, monitor="val_loss", stop_reason="completed", patience=patience)
    return {
        "epochs": epochs,
        "diagnosis": found.label,
        "recommended_epochs": found.recommended_epochs,
        "overfitting_from_epoch": found.overfitting_from_epoch,
        "secondary": list(found.secondary),
        "reference": reference_reading(cut),
    }


def train_grid(args: argparse.Namespace, read_at: list[int]) -> tuple[list[Any], dict[str, Any]]:
    """Every configuration of the grid trained once; then the prefix check (module docstring)."""
    data = [
        "--dataset", args.dataset, "--max-train-samples", str(args.max_train_samples),
        "--validation-split", str(args.validation_split), "--seed", str(args.seed),
        "--patience", str(args.epochs),
    ]  # fmt: skip

    def flags(epochs: int, lr: str, batch: str, dropout: str) -> list[str]:
        return [*data, "--epochs", str(epochs), "--learning-rate", lr, "--batch-size", batch,
                "--dropout", dropout]  # fmt: skip

    grid = list(itertools.product(
        args.learning_rates.split(","), args.batch_sizes.split(","), args.dropouts.split(",")
    ))  # fmt: skip
    runs = []
    for lr, batch, dropout in grid:
        run = record(flags(args.epochs, lr, batch, dropout))
        config = {"learning_rate": float(lr), "batch_size": int(batch), "dropout": float(dropout)}
        # The data settings as the run logged them: what the training really used.
        data_params = {k: run["params"][k] for k in ("max_train_samples", "validation_split")}
        runs.append(
            {**config, "data": data_params, "seconds": run["seconds"], "history": run["history"]}
        )
        print(f"trained lr {lr} batch {batch} dropout {dropout}", flush=True)
    # An N-epoch run logs what the first N epochs of a longer run of the same seed logged.
    first, short = runs[0], record(flags(read_at[0], *grid[0]))
    keys = [k for k in short["history"] if k not in ("step", "epoch", "learning_rate")]
    differences = [
        abs(a - b) / max(abs(b), 1e-12)
        for k in keys
        for a, b in zip(first["history"][k][: read_at[0]], short["history"][k], strict=True)
    ]
    check = {
        "config": {k: first[k] for k in ("learning_rate", "batch_size", "dropout")},
        "epochs": read_at[0],
        "max_relative_difference": max(differences),
    }
    return runs, check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=30)
    parser.set_defaults(max_train_samples=10000)
    parser.add_argument(
        "--validation-split",
        type=float,
        default=0.25,
        help="share of the rows held out for validation (pipelines.train's flag)",
    )
    parser.add_argument("--learning-rates", default="0.0001,0.001,0.01")
    parser.add_argument("--batch-sizes", default="32,256")
    parser.add_argument("--dropouts", default="0,0.5")
    parser.add_argument("--read-at", default="10,30", help="epochs at which each run is read")
    parser.add_argument(
        "--histories",
        type=Path,
        default=None,
        help="read the runs kept in this earlier result instead of training (no new training)",
    )
    args = parser.parse_args()
    earlier = json.loads(args.histories.read_text()) if args.histories else None
    if earlier is not None:  # the settings the histories were trained with, not the defaults
        for key in TRAINING_SETTINGS:
            # validation_split: results from before the flag used pipelines.train's 0.1
            setattr(args, key, earlier["settings"].get(key, 0.1))
    read_at = sorted({min(int(e), args.epochs) for e in args.read_at.split(",")})
    started = time.perf_counter()
    if earlier is not None:
        runs, check = earlier["runs"], earlier["prefix_check"]
        trained = {  # a result that re-read histories itself points to the training's
            "histories_from": earlier.get("histories_from", earlier["finished"]),
            "trained_minutes": earlier.get("trained_minutes", earlier["minutes"]),
        }
    else:
        runs, check = train_grid(args, read_at)
        trained = {"trained_minutes": (time.perf_counter() - started) / 60}
    readings = []
    for run in runs:
        config = {k: run[k] for k in ("learning_rate", "batch_size", "dropout")}
        for epochs in read_at:
            reading = {**config, **read(run["history"], epochs, args.epochs)}
            readings.append(reading)
            print(
                f"lr {config['learning_rate']} batch {config['batch_size']} dropout "
                f"{config['dropout']} at {epochs} epochs: diagnosis {reading['diagnosis']}, "
                f"reference {reading['reference']}",
                flush=True,
            )
    pairs = [(r["diagnosis"], r["reference"]) for r in readings]
    agreement = sum(a == b for a, b in pairs) / len(pairs)
    result = {
        "n_trainings": len(runs),
        "validation_rows": (  # as tracking.data.sources counts them
            math.ceil(args.validation_split * args.max_train_samples)
            if args.max_train_samples
            else None
        ),
        "n_readings": len(readings),
        "read_at": read_at,
        "agreement": agreement,
        "confusion": confusion(pairs),
        "confusion_axes": "rows: diagnosis (tracking.report.diagnosis); columns: reference_reading",
        "disagreements": [r for r in readings if r["diagnosis"] != r["reference"]],
        "readings": readings,
        "prefix_check": check,
        "minutes": (time.perf_counter() - started) / 60,
        **trained,
        "targets": {"agreement_at_least": TARGET, "met": agreement >= TARGET},
        "runs": runs,
    }
    write_result("diagnosis_agreement", args, result)
    print(f"agreement {agreement:.0%} over {len(pairs)} readings of {len(runs)} trainings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
