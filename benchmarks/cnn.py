"""Your own model on full MNIST: ``examples/cnn.py:build`` trained once as MNIST images, then swept.

    .venv/bin/python benchmarks/cnn.py [--epochs 15] [--filters 32] [--sweep-trials 8]
        [--no-single] [--dataset digits]

One ``python -m pipelines.train --model examples/cnn.py:build --input-shape image`` with the
project's defaults otherwise (Adam 1e-3, batch 128, dropout 0.2, early stopping after 5 epochs
without a better ``val_loss``, the best weights scored on MNIST's official 10 000 test images),
in a fresh directory with a SQLite tracking store. Reports the test accuracy of the registered
model's weights, the minutes it took (the whole command: TensorFlow's import, data, training,
scoring, logging, registering) and the CPUs it had. Target: at least 99.0 % test accuracy, what
a small CNN reaches on MNIST and the default MLP (98.08 %) does not.

Then (``--sweep-trials N``, 0 for none) ``python -m pipelines.sweep`` of the same model with
``--search-space examples/cnn_space.yaml``: the CNN's own ``filters``, ``kernel_size`` and
``dense_units`` beside the five built-in parameters, epochs up to ``--epochs``, N trials, the
default pruner; reports the champion's test accuracy, the minutes, trials by state and epochs
trained. ``--no-single`` keeps the single run's figures from the JSON already there. Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from common import REPO, RESULTS, add_data_flags, run_sweep, single_run, write_result

MODEL = str(REPO / "examples" / "cnn.py") + ":build"
SPACE = str(REPO / "examples" / "cnn_space.yaml")
TARGET = 0.99


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=15)
    parser.add_argument("--filters", type=int, default=32, help="examples/cnn.py's filters")
    parser.add_argument("--sweep-trials", type=int, default=8, help="then a sweep (0: none)")
    parser.add_argument("--no-single", action="store_true", help="keep the JSON's single run")
    args = parser.parse_args()
    params = {"filters": args.filters}
    data = [
        "--model", MODEL, "--input-shape", "image", "--dataset", args.dataset,
        "--max-train-samples", str(args.max_train_samples), "--seed", str(args.seed),
    ]  # fmt: skip
    if args.no_single:
        previous = json.loads((args.out or RESULTS / "cnn.json").read_text())
        result = {k: previous[k] for k in SINGLE_KEYS}
    else:
        flags = [*data, "--params", json.dumps(params), "--epochs", str(args.epochs)]
        result = single(flags, params)
    if args.sweep_trials:
        flags = [
            *data, "--search-space", SPACE, "--n-trials", str(args.sweep_trials),
            "--epochs-min", str(min(5, args.epochs)), "--epochs-max", str(args.epochs),
        ]  # fmt: skip
        print(f"python -m pipelines.sweep {' '.join(flags)}", flush=True)
        result["sweep"] = summarise_sweep(flags, run_sweep(flags))
        print(f"sweep: {result['sweep']['summary']}", flush=True)
    write_result("cnn", args, result)
    return 0


SINGLE_KEYS = (
    "model", "params", "train_flags", "test_accuracy", "minutes", "fit_minutes",
    "epochs_trained", "best_epoch", "recommended_epochs", "diagnosis", "stop_reason", "targets",
)  # fmt: skip


def single(flags: list[str], params: dict[str, Any]) -> dict[str, Any]:
    print(f"python -m pipelines.train {' '.join(flags)}", flush=True)
    run = single_run(flags)
    accuracy = run["test_accuracy"]
    return {
        "model": "examples/cnn.py:build",
        "params": params,
        "train_flags": flags[2:],
        "test_accuracy": accuracy,
        "minutes": run["seconds"] / 60,
        "fit_minutes": None if run["fit_seconds"] is None else run["fit_seconds"] / 60,
        "epochs_trained": run["epochs_trained"],
        "best_epoch": None if run["best_epoch"] is None else int(run["best_epoch"]) + 1,
        "recommended_epochs": run["recommended_epochs"],
        "diagnosis": run["diagnosis"],
        "stop_reason": run["stop_reason"],
        "targets": {
            "test_accuracy_at_least": TARGET,
            "met": accuracy is not None and accuracy >= TARGET,
        },
    }


def summarise_sweep(flags: list[str], sweep: dict[str, Any]) -> dict[str, Any]:
    """What the table says of the sweep: the champion, minutes, trials and epochs."""
    champion = sweep["champion"]
    winner = next(
        (t for t in sweep["trials"] if t["number"] == sweep["best_trial"]), {"params": None}
    )
    states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(sweep["states"].items()))
    return {
        "flags": [f.replace(f"{REPO}/", "") for f in flags],
        "minutes": sweep["seconds"] / 60,
        "states": sweep["states"],
        "epochs_trained": sweep["epochs_trained"],
        "best_trial": sweep["best_trial"],
        "best_trial_params": winner["params"],
        "champion_test_accuracy": champion.get("test_accuracy"),
        "promotion": sweep["promotion"],
        "trials": sweep["trials"],
        "summary": f"{states}; champion {champion.get('test_accuracy')} "
        f"in {sweep['seconds'] / 60:.1f} min",
    }


if __name__ == "__main__":
    sys.exit(main())
