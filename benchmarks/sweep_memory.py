"""Memory per sweep trial: a bare Keras loop vs our ``train()``, with and without the fix.

Each variant runs ``--trials`` trainings in ONE fresh process (as a sweep does), on the same
data, against a real MLflow SQLite store in a temporary directory, and reads the resident set
size (VmRSS) after each trial. Growth = slope of a least-squares line over the trials after the
first two (warm-up). Run from the repository root:

    .venv/bin/python benchmarks/sweep_memory.py [--trials 10] [--dataset mnist|digits]
        [--max-train-samples 10000] [--epochs 2] [--variants keras,keras-built,train,...]

Variants:
- ``keras``: build/fit/clear_session/gc loop, the model of ``tracking.model.build``, plain Keras;
- ``keras-built``: the same, with the optimizer built before ``fit`` (``build_optimizer``);
- ``train-unfixed``: ``tracking.run.training.train`` with ``build_optimizer`` made a no-op;
- ``train``: ``tracking.run.training.train`` as it is.

Also printed: TensorFlow ``AtomicFunction`` objects that survive each trial (a leak TensorFlow
keeps for the life of the process). About 4 minutes by default on 2 cores. Not run by CI.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("keras", "keras-built", "train-unfixed", "train")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def slope(values: list[float], warmup: int = 2) -> float:
    """MB per trial: least-squares slope over the trials after ``warmup``."""
    y = np.asarray(values[warmup:], dtype=float)
    return float(np.polyfit(np.arange(len(y)), y, 1)[0]) if len(y) >= 2 else float("nan")


def run_variant(variant: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """In this process: ``args.trials`` trainings, RSS and surviving tf functions after each."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    tmp = tempfile.mkdtemp(prefix="sweep-memory-")
    os.chdir(tmp)  # mlruns/ and anything else relative lands in the temp dir
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")

    import keras

    from tracking.config.train import TrainConfig
    from tracking.data.datasets import load_dataset
    from tracking.door.tracker import Tracker
    from tracking.model.build import build_model
    from tracking.run import training

    config = TrainConfig(
        dataset=args.dataset,
        max_train_samples=args.max_train_samples,
        epochs=args.epochs,
        registered_model_name="",
    )
    dataset = load_dataset(config)
    if variant == "train-unfixed":
        training.build_optimizer = lambda model: None

    tracker = Tracker()

    def one_trial() -> None:
        if variant.startswith("train"):
            run_id = tracker.create_run("trial")
            with tracker.ending(run_id):
                training.train(
                    config,
                    tracker=tracker,
                    run_id=run_id,
                    dataset=dataset,
                    register=False,
                    verbose=0,
                )
            return
        keras.backend.clear_session()
        gc.collect()
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, dataset.n_features, dataset.n_classes)
        if variant == "keras-built":
            training.build_optimizer(model)
        model.fit(
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val),
            epochs=config.epochs,
            batch_size=config.batch_size,
            verbose=0,
        )

    rss: list[float] = []
    functions: list[float] = []
    for _ in range(args.trials):
        one_trial()
        gc.collect()  # what study.optimize(gc_after_trial=True) does
        rss.append(rss_mb())
        functions.append(sum(type(o).__name__ == "AtomicFunction" for o in gc.get_objects()))
    return {"rss": rss, "functions": functions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "digits"))
    parser.add_argument("--max-train-samples", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one variant, in a fresh process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child, args)))
        return

    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; expected some of {VARIANTS}")
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    results = {}
    for variant in variants:  # one fresh process each: RSS starts from the same point
        print(f"running {variant} ({args.trials} trials) ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", variant, *sys.argv[1:]],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])

    base = results.get("keras")
    base_slope = slope(base["rss"]) if base else float("nan")
    print(
        f"{args.trials} trials, {args.dataset} (max_train_samples={args.max_train_samples}), "
        f"{args.epochs} epochs, MLflow SQLite store; slope over trials 3..{args.trials}"
    )
    print(
        f"{'variant':<14} {'RSS first':>9} {'RSS last':>9} {'MB/trial':>9} "
        f"{'x keras':>8} {'tf functions kept/trial':>24}"
    )
    for variant, r in results.items():
        growth = slope(r["rss"])
        kept = float(np.median(np.diff(r["functions"]))) if len(r["functions"]) > 1 else 0.0
        print(
            f"{variant:<14} {r['rss'][0]:9.0f} {r['rss'][-1]:9.0f} {growth:9.2f} "
            f"{growth / base_slope:8.2f} {kept:24.0f}"
        )


if __name__ == "__main__":
    main()
