"""Against KerasTuner Hyperband: the sweep's default space, the same split, the same epochs.

KerasTuner's ``Hyperband`` (``keras-tuner``, the ``bench`` extra) tunes the same MLP
(``tracking.model.build.build_model`` from a ``TrainConfig``: the project's layers, scaling in
the first layer) over the sweep's default space, its bounds read from ``SweepConfig`` (docs/
sweeps.md): optimizer adam | rmsprop | sgd, ``learning_rate`` (adam, rmsprop) and
``sgd_learning_rate`` (sgd) on their own log ranges as conditional hyperparameters, dropout, l2
(log), batch size, ``reduce_lr_patience`` (Keras's ``ReduceLROnPlateau`` halving the rate, as a
training run does), batch norm, ``hidden_layers`` and ``hidden_width`` (log; the narrowing
layers of ``tracking.sweep.space.hidden_units``). Hyperband picks each trial's epochs itself, up
to ``max_epochs`` = the space's ``epochs_max``; early stopping with the run's ``patience``, as in
every sweep trial. Same split (``tracking.data.datasets.load_dataset``, the run's ``seed``), and
the objective the default sweep optimises (``monitor``, ``val_loss``), on the validation rows.

The budget, per sampler seed: the epochs the default sweep trained for the same dataset and
seed in a ``benchmarks/sweep_quality.py`` result (``--sweep-result``): ``all`` (the default)
counts every epoch it trained: its trials' runs, the other folds of cross-validated trials
(small data) and the refit; ``trials-refit`` leaves the folds out. A callback counts every epoch
of every trial and ends the search at the budget. Reports, per seed, the best trial's model's
test accuracy (KerasTuner's ``get_best_models``) and, outside the budget, that configuration
refit on the training and validation rows for its best epoch count (as the sweep refits its
winner on small data), beside the sweep's champion and the single run of the same result.
Target: the sweep's champion at least as accurate on test as Hyperband's best model, every seed.

    .venv/bin/python benchmarks/hyperband.py --dataset digits --seeds 0,1,2 \\
        [--sweep-result benchmarks/results/sweep_quality-digits.json] [--budget all] \\
        [--out FILE --append]  # --append: add these seeds to those FILE holds

Writes ``benchmarks/results/hyperband-<dataset>.json`` (or ``--out``). Not run by CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS, add_data_flags, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tracking.config.train import TrainConfig  # noqa: E402
from tracking.data.datasets import load_dataset  # noqa: E402
from tracking.model.build import build_model  # noqa: E402
from tracking.sweep.config import SweepConfig  # noqa: E402
from tracking.sweep.dimensions import space_of  # noqa: E402
from tracking.sweep.space import direction, hidden_units  # noqa: E402

BUDGETS = ("all", "trials-refit")


def ours(result: dict[str, Any], seed: str, budget: str) -> dict[str, Any]:
    """The default sweep of ``seed`` in a sweep_quality result: its epochs and accuracies."""
    entry = result["seeds"][seed]
    s = entry["sweep"]
    folds = int(s.get("fold_epochs_trained", 0))
    epochs = s["epochs_trained"] + s["refit_epochs"] + (folds if budget == "all" else 0)
    return {
        "budget_epochs": epochs,
        "epochs_trained": s["epochs_trained"],
        "fold_epochs_trained": folds,
        "refit_epochs": s["refit_epochs"],
        "states": s["states"],
        "monitor": s.get("monitor"),
        "best_trial": s["best_trial"],
        "champion_test_accuracy": s["champion_test_accuracy"],
        "champion_cv_mean": s.get("champion_cv_mean"),
        "champion_cv_std": s.get("champion_cv_std"),
        "single_test_accuracy": entry["single"]["test_accuracy"],
    }


def train_config(base: TrainConfig, hp: Any) -> TrainConfig:
    """The base configuration with the sweep's dimensions drawn from ``hp`` (define-by-run)."""
    space = SweepConfig()
    optimizer = hp.Choice("optimizer", list(space.optimizer_choices))
    with hp.conditional_scope("optimizer", [o for o in space.optimizer_choices if o != "sgd"]):
        rate = hp.Float("learning_rate", space.learning_rate_min, space.learning_rate_max,
                        sampling="log")  # fmt: skip
    with hp.conditional_scope("optimizer", ["sgd"]):
        sgd_rate = hp.Float("sgd_learning_rate", space.sgd_learning_rate_min,
                            space.sgd_learning_rate_max, sampling="log")  # fmt: skip
    layers = hp.Int("hidden_layers", space.hidden_layers_min, space.hidden_layers_max)
    width = hp.Int("hidden_width", space.hidden_width_min, space.hidden_width_max, sampling="log")
    translation = (  # where the sweep searches it (images)
        hp.Float("translation", space.translation_min, space.translation_max)
        if "translation" in space_of(base, space).dimensions
        else base.translation
    )
    return dataclasses.replace(
        base,
        translation=translation,
        optimizer=optimizer,
        learning_rate=sgd_rate if optimizer == "sgd" else rate,
        dropout=hp.Float("dropout", space.dropout_min, space.dropout_max),
        l2=hp.Float("l2", space.l2_min, space.l2_max, sampling="log"),
        batch_norm=bool(hp.Choice("batch_norm", list(space.batch_norm_choices))),  # 0/1 back
        hidden_units=hidden_units(layers, width),
        batch_size=hp.Choice("batch_size", list(space.batch_size_choices)),
        reduce_lr_patience=hp.Choice("reduce_lr_patience", list(space.reduce_lr_patience_choices)),
    )


def reduce_lr(config: TrainConfig, monitor: str) -> keras.callbacks.ReduceLROnPlateau:
    """The schedule of a training run (``src/tracking/run/training.py``)."""
    mode = "max" if direction(monitor) == "maximize" else "min"
    return keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, mode=mode, factor=0.5, patience=config.reduce_lr_patience, min_lr=1e-6
    )


def hypermodel(kt: Any, base: TrainConfig, data: Any) -> Any:
    """The built-in MLP as a KerasTuner HyperModel; fit with the trial's batch and schedule."""

    class MLP(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> keras.Model:
            config = train_config(base, hp)
            return build_model(config, data.n_features, data.n_classes, data.scaling)

        def fit(self, hp: Any, model: keras.Model, *fit_args: Any, **kwargs: Any) -> Any:
            config = train_config(base, hp)  # the values build() drew
            callbacks = list(kwargs.pop("callbacks", []))
            if config.reduce_lr_patience > 0:
                callbacks.insert(0, reduce_lr(config, base.monitor))
            return model.fit(*fit_args, batch_size=config.batch_size, callbacks=callbacks, **kwargs)

    return MLP()


def budget_callback(tuner: Any, budget: int) -> keras.callbacks.Callback:
    """Counts every trained epoch; at the budget it stops the trial and starts no other. The
    count and the tuner are class attributes: KerasTuner deep-copies callbacks for each trial,
    and a copy's own counter (or the oracle's copy) would never stop the search."""

    class Budget(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            Budget.epochs += 1
            if Budget.epochs >= budget:
                self.model.stop_training = True
                tuner.oracle.max_trials = len(tuner.oracle.trials)  # the oracle stops here

    return Budget()


def search(kt: Any, base: TrainConfig, data: Any, seed: int, budget: int) -> dict[str, Any]:
    """One Hyperband search of ``budget`` epochs, sampler ``seed``: its best model's test
    accuracy, then that configuration refit on training and validation rows."""
    keras.utils.set_random_seed(base.seed)
    with tempfile.TemporaryDirectory(prefix="bench-hyperband-") as tmp:
        tuner = kt.Hyperband(
            hypermodel(kt, base, data),
            objective=kt.Objective(
                base.monitor, "max" if direction(base.monitor) == "maximize" else "min"
            ),  # fmt: skip
            max_epochs=base.epochs,
            factor=3,
            hyperband_iterations=100,  # more than the budget allows: the budget ends the search
            seed=seed,
            directory=tmp,
            project_name="hyperband",
            overwrite=True,
        )
        counter = budget_callback(tuner, budget)
        early = keras.callbacks.EarlyStopping(monitor=base.monitor, patience=base.patience)
        started = time.perf_counter()
        tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                     callbacks=[counter, early], verbose=0)  # fmt: skip
        seconds = time.perf_counter() - started
        best = tuner.oracle.get_best_trials(1)[0]
        model = tuner.get_best_models(1)[0]
        test = model.evaluate(data.x_test, data.y_test, batch_size=1024, verbose=0)
        refit = refit_best(base, data, best, hypermodel(kt, base, data))
        return {
            "epochs_trained": type(counter).epochs,
            "n_trials": len(tuner.oracle.trials),
            "seconds": seconds,
            "best_value": float(best.score),
            "best_step": int(best.best_step),
            "best_hyperparameters": best.hyperparameters.values,
            "best_model_test_accuracy": float(test[1]),
            **refit,
        }


def refit_best(base: TrainConfig, data: Any, best: Any, model_builder: Any) -> dict[str, Any]:
    """The best configuration on the training and validation rows, for its best epoch count,
    the schedule on the training ``loss`` (as the sweep's refit: no validation rows left)."""
    keras.utils.set_random_seed(base.seed)
    config = train_config(base, best.hyperparameters)
    model = model_builder.build(best.hyperparameters)
    epochs = int(best.best_step) + 1
    callbacks = [reduce_lr(config, "loss")] if config.reduce_lr_patience > 0 else []
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    model.fit(x, y, epochs=epochs, batch_size=config.batch_size, callbacks=callbacks, verbose=0)
    test = model.evaluate(data.x_test, data.y_test, batch_size=1024, verbose=0)
    return {"refit_epochs": epochs, "refit_test_accuracy": float(test[1])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=0)
    parser.add_argument("--seeds", default="0,1,2", help="sampler seeds of the sweep result")
    parser.add_argument("--sweep-result", type=Path, help="default: sweep_quality[-<dataset>].json")
    parser.add_argument("--budget", choices=BUDGETS, default="all", help="which epochs count")
    parser.add_argument("--append", action="store_true", help="keep the seeds --out holds")
    args = parser.parse_args()
    try:
        import keras_tuner as kt
    except ImportError:
        print("keras-tuner is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    stem = "sweep_quality" + ("" if args.dataset == "mnist" else f"-{args.dataset}")
    path = args.sweep_result or RESULTS / f"{stem}.json"  # where sweep_quality.py writes it
    sweeps = json.loads(path.read_text())
    base = TrainConfig(
        dataset=args.dataset, data_path=str(args.data_path or ""),
        label_column=args.label_column or TrainConfig().label_column,
        max_train_samples=args.max_train_samples, seed=args.seed,
        epochs=args.epochs or SweepConfig().epochs_max,
    )  # fmt: skip
    data = load_dataset(base)
    result: dict[str, Any] = {
        "sweep_result": path.name,
        "keras_tuner": kt.__version__,
        "max_epochs": base.epochs,
        "monitor": base.monitor,
        "seeds": {},
    }
    if args.append and args.out and args.out.exists():  # seeds measured by an earlier invocation
        result["seeds"] = json.loads(args.out.read_text())["seeds"]
    for seed in args.seeds.split(","):
        sweep = ours(sweeps, seed, args.budget)
        hyperband = search(kt, base, data, int(seed), sweep["budget_epochs"])
        ahead = sweep["champion_test_accuracy"] >= hyperband["best_model_test_accuracy"]
        result["seeds"][seed] = {"hyperband": hyperband, "ours": sweep, "ours_ahead": ahead}
        print(f"seed {seed}: hyperband {hyperband['n_trials']} trials, "
              f"{hyperband['epochs_trained']} epochs (budget {sweep['budget_epochs']}), test "
              f"{hyperband['best_model_test_accuracy']:.4f} (refit "
              f"{hyperband['refit_test_accuracy']:.4f}); sweep champion "
              f"{sweep['champion_test_accuracy']:.4f}", flush=True)  # fmt: skip
        entries = result["seeds"].values()
        result["targets"] = {"ours_at_least_as_good": all(e["ours_ahead"] for e in entries)}
        args.seeds = ",".join(result["seeds"])  # with --append: every seed the file holds
        write_result("hyperband", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
