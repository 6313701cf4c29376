"""Champion quality: the sweep a user runs with the defaults, bounded by wall time.

``python -m pipelines.sweep`` with every default (search space, pruner, ``n_trials``) and a
``--timeout`` (30 minutes by default: trials stop being started after it), in a fresh directory
with SQLite stores; reports the trials run, the minutes, and the test accuracy of the model the
sweep promoted to ``@champion`` (best weights, full test split). Target: at least 98.5 % on MNIST.

    .venv/bin/python benchmarks/champion.py [--timeout-minutes 30] [--trials 20] [--dataset digits]

Extra sweep flags after ``--`` go to the sweep (e.g. ``-- --reduce-lr-patience 2``).
Writes ``benchmarks/results/champion.json``. Not run by CI.
"""

from __future__ import annotations

import argparse
import sys

from common import add_data_flags, run_sweep, sweep_flags, write_result

TARGET = 0.985


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=0)
    parser.add_argument("--trials", type=int, default=20, help="n_trials (the sweep's default)")
    parser.add_argument("--timeout-minutes", type=float, default=30.0)
    parser.add_argument("sweep_args", nargs="*", help="more pipelines.sweep flags, after --")
    args = parser.parse_args()
    flags = [*sweep_flags(args), "--n-trials", str(args.trials)]
    if args.epochs:  # small settings: every trial this many epochs
        flags += ["--epochs-min", str(args.epochs), "--epochs-max", str(args.epochs)]
    if args.timeout_minutes:
        flags += ["--timeout", str(args.timeout_minutes * 60)]
    sweep = run_sweep([*flags, *args.sweep_args])
    test_accuracy = sweep["champion"].get("test_accuracy")
    result = {
        "pruner": sweep["pruner"],
        "sweep_flags": [*flags, *args.sweep_args],
        "minutes": sweep["seconds"] / 60,
        "n_trials": sweep["n_trials"],
        "states": sweep["states"],
        "epochs_trained": sweep["epochs_trained"],
        "best_val_accuracy": sweep["best_val_accuracy"],
        "champion": sweep["champion"],
        "champion_test_accuracy": test_accuracy,
        "targets": {
            "champion_test_accuracy_at_least": TARGET,
            "met": test_accuracy is not None and test_accuracy >= TARGET,
        },
        "trials": sweep["trials"],
    }
    print(
        f"{sweep['n_trials']} trials in {result['minutes']:.1f} min ({sweep['states']}); "
        f"champion test accuracy {test_accuracy}",
        flush=True,
    )
    write_result("champion", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
