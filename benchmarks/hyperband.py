"""Against KerasTuner Hyperband: the same search space, split and budget of total epochs.

KerasTuner's ``Hyperband`` (``keras-tuner``, the ``bench`` extra) tunes the same MLP
(``tracking.model.build.build_model``: the project's layers, scaling in the first layer) over the
same space as the sweep's defaults: learning_rate log [1e-4, 1e-1], dropout [0, 0.5], l2 log
[1e-6, 1e-2], batch_size in 32..512; on the same split (``tracking.data.datasets.load_dataset``),
with ``max_epochs`` = the most epochs one sweep trial may train (the pruned sweep's fixed epochs, or
the space's ``epochs_max``, 50, when it searched them; Hyperband picks each trial's epochs
itself), and the objective that sweep optimises by default (``val_accuracy``). It stops
starting trials once the epochs it has trained (every epoch of every trial, counted by a
callback) reach the budget: by default the epochs the pruned sweep of ``benchmarks/pruning.py``
trained (``results/pruning.json``).
Reports its best validation accuracy and its best model's test accuracy, beside the pruned
sweep's. Target: ours at least as good.

    .venv/bin/python benchmarks/hyperband.py [--budget-epochs N] [--epochs 0] [--dataset digits]

Writes ``benchmarks/results/hyperband.json``. Not run by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from typing import Any

from common import RESULTS, add_data_flags, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from tracking.config.train import TrainConfig  # noqa: E402
from tracking.data.datasets import load_dataset  # noqa: E402
from tracking.model.build import build_model  # noqa: E402
from tracking.sweep.config import SweepConfig  # noqa: E402


def _ours(path: str) -> dict[str, Any]:
    """The pruned sweep of ``benchmarks/pruning.py``: its epochs and accuracies ({} if absent)."""
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        result = json.load(file)
    pruned = result["pruned"]
    return {
        "source": os.path.basename(path),
        "pruner": result.get("pruner", "median"),
        "monitor": result["settings"].get("monitor", "val_loss"),
        "n_trials": pruned["n_trials"],
        "epochs": result["settings"].get("epochs", 0),  # 0: searched, up to epochs_max
        "epochs_trained": pruned["epochs_trained"],
        "best_val_accuracy": pruned["best_val_accuracy"],
        "champion_test_accuracy": pruned["champion"].get("test_accuracy"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=0)
    parser.add_argument("--budget-epochs", type=int, default=0, help="0 = pruning.json's")
    parser.add_argument("--pruning-result", default=str(RESULTS / "pruning.json"))
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument(
        "--wait-minutes", type=float, default=0, help="wait this long for --pruning-result"
    )
    args = parser.parse_args()
    try:
        import keras_tuner as kt
    except ImportError:
        print("keras-tuner is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    ours_before = _ours(args.pruning_result)
    budget = args.budget_epochs or ours_before.get("epochs_trained", 0)
    max_epochs = args.epochs or ours_before.get("epochs") or SweepConfig().epochs_max
    if not budget:
        parser.error(f"--budget-epochs is needed when {args.pruning_result} does not exist")

    base = TrainConfig(
        dataset=args.dataset, max_train_samples=args.max_train_samples, seed=args.seed
    )
    space = SweepConfig()
    data = load_dataset(base)

    class MLP(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> keras.Model:
            config = dataclasses.replace(
                base,
                learning_rate=hp.Float(
                    "learning_rate",
                    space.learning_rate_min,
                    space.learning_rate_max,
                    sampling="log",
                ),
                dropout=hp.Float("dropout", space.dropout_min, space.dropout_max),
                l2=hp.Float("l2", space.l2_min, space.l2_max, sampling="log"),
            )
            return build_model(config, data.n_features, data.n_classes, data.scaling)

        def fit(self, hp: Any, model: keras.Model, *fit_args: Any, **kwargs: Any) -> Any:
            batch_size = hp.Choice("batch_size", list(space.batch_size_choices))
            return model.fit(*fit_args, batch_size=batch_size, **kwargs)

    class Budget(keras.callbacks.Callback):
        """Counts every trained epoch; once the budget is spent, no new trial is started."""

        epochs = 0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            Budget.epochs += 1
            if Budget.epochs >= budget:
                tuner.oracle.max_trials = len(tuner.oracle.trials)  # the oracle stops here

    with tempfile.TemporaryDirectory(prefix="bench-hyperband-") as tmp:
        tuner = kt.Hyperband(
            MLP(),
            objective="val_accuracy",
            max_epochs=max_epochs,
            factor=args.factor,
            hyperband_iterations=100,  # more than the budget allows: the budget ends the search
            seed=args.seed,
            directory=tmp,
            project_name="hyperband",
            overwrite=True,
        )
        started = time.perf_counter()
        tuner.search(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            callbacks=[Budget()],
            verbose=0,
        )
        seconds = time.perf_counter() - started
        best_trial = tuner.oracle.get_best_trials(1)[0]
        best_model = tuner.get_best_models(1)[0]
        test = best_model.evaluate(data.x_test, data.y_test, batch_size=1024, verbose=0)
        n_trials = len(tuner.oracle.trials)

    deadline = time.monotonic() + 60 * args.wait_minutes  # the pruning benchmark may still run
    while not os.path.exists(args.pruning_result) and time.monotonic() < deadline:
        time.sleep(10)
    ours = _ours(args.pruning_result)
    hyperband = {
        "epochs_trained": Budget.epochs,
        "n_trials": n_trials,
        "seconds": seconds,
        "best_val_accuracy": float(best_trial.score),
        "best_hyperparameters": best_trial.hyperparameters.values,
        "best_model_test_accuracy": float(test[1]),
    }
    print(
        f"hyperband: {n_trials} trials, {Budget.epochs} epochs in {seconds:.0f} s; best val "
        f"accuracy {hyperband['best_val_accuracy']:.4f}, test accuracy "
        f"{hyperband['best_model_test_accuracy']:.4f}; ours: {ours or 'no pruning result'}",
        flush=True,
    )
    met = None
    if ours.get("best_val_accuracy") is not None and ours.get("champion_test_accuracy"):
        met = (
            ours["best_val_accuracy"] >= hyperband["best_val_accuracy"]
            and ours["champion_test_accuracy"] >= hyperband["best_model_test_accuracy"]
        )
    result = {
        "budget_epochs": budget,
        "max_epochs": max_epochs,
        "hyperband": hyperband,
        "ours": ours,
        "keras_tuner": kt.__version__,
        "targets": {"ours_at_least_as_good": met},
    }
    write_result("hyperband", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
