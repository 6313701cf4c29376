"""Pruning efficiency: the same study with the default pruner and with ``pruner=none``.

Two runs of ``python -m pipelines.sweep`` in fresh directories (SQLite tracking and Optuna
stores), one after the other, with the same search space, sampler seed and number of trials;
only ``--pruner`` differs. Reports for each: total epochs trained (the child runs'
``epochs_trained``), wall time, the best validation accuracy over complete trials, and the test
accuracy of the model promoted to ``@champion``; then pruned/unpruned epochs and the difference
in best validation accuracy. Target: at most 40 % of the epochs, at most 0.2 points lower.

    .venv/bin/python benchmarks/pruning.py [--trials 20] [--epochs 0] [--dataset digits]

By default both studies search the sweep's whole default space, epochs (5 to 50, with early
stopping) included, as a user's ``mlflow run . -e sweep`` does; ``--epochs N`` fixes every
trial's epochs at N instead. Both studies optimise ``--monitor`` (default ``val_accuracy``, the
metric the target is stated in and the objective KerasTuner's Hyperband uses in
``benchmarks/hyperband.py``). Writes ``benchmarks/results/pruning.json``. Not run by CI.
"""

from __future__ import annotations

import argparse
import sys

from common import add_data_flags, run_sweep, sweep_flags, write_result

from tracking.sweep.config import SweepConfig

DEFAULT_PRUNER = SweepConfig().pruner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=0)
    parser.add_argument("--trials", type=int, default=20, help="n_trials (the sweep's default)")
    parser.add_argument(
        "--monitor", default="val_accuracy", help="what the study optimises (the target's metric)"
    )
    parser.add_argument("--sampler-seed", type=int, default=0)
    args = parser.parse_args()
    flags = [
        *sweep_flags(args), "--n-trials", str(args.trials),
        "--sampler-seed", str(args.sampler_seed), "--registered-model-name", "auto",
        "--monitor", args.monitor,
    ]  # fmt: skip
    if args.epochs:
        flags += ["--epochs-min", str(args.epochs), "--epochs-max", str(args.epochs)]
    runs = {}
    for pruner in (DEFAULT_PRUNER, "none"):
        run = run_sweep([*flags, "--pruner", pruner])
        runs[pruner] = run
        print(
            f"pruner={pruner}: {run['epochs_trained']} epochs, {run['seconds']:.0f} s, "
            f"{run['states']}, best val accuracy {run['best_val_accuracy']}, champion test "
            f"accuracy {run['champion'].get('test_accuracy')}",
            flush=True,
        )
    pruned, unpruned = runs[DEFAULT_PRUNER], runs["none"]
    epochs_ratio = pruned["epochs_trained"] / unpruned["epochs_trained"]
    val_drop = None
    if pruned["best_val_accuracy"] is not None and unpruned["best_val_accuracy"] is not None:
        val_drop = 100 * (unpruned["best_val_accuracy"] - pruned["best_val_accuracy"])
    result = {
        "pruner": pruned["pruner"],
        "sweep_flags": flags,
        "pruned": {k: v for k, v in pruned.items()},
        "unpruned": {k: v for k, v in unpruned.items()},
        "epochs_ratio": epochs_ratio,
        "seconds_ratio": pruned["seconds"] / unpruned["seconds"],
        "best_val_accuracy_drop_points": val_drop,
        "targets": {
            "epochs_ratio_at_most": 0.40,
            "epochs_met": epochs_ratio <= 0.40,
            "val_accuracy_drop_points_at_most": 0.2,
            "val_accuracy_met": val_drop is not None and val_drop <= 0.2,
        },
    }
    print(
        f"pruned/unpruned epochs {epochs_ratio:.2f}, wall time {result['seconds_ratio']:.2f}; "
        f"best val accuracy {val_drop if val_drop is None else round(val_drop, 3)} points lower",
        flush=True,
    )
    write_result("pruning", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
