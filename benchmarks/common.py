"""What the benchmarks share: where results go, the note every result carries, the base config."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from tracking.model.devices import cpu_model

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
NOTE = (
    "Measured on a shared 2-core machine (other work ran at the same time), so absolute times "
    "are noisy; compare the ratios and counts of variants run side by side in one invocation."
)
CV_ATTRS = ("cv_mean", "cv_std", "cv_values")  # a cross-validated trial's Optuna user attrs


def add_data_flags(parser: argparse.ArgumentParser, *, epochs: int) -> None:
    """The small-settings flags every benchmark takes."""
    parser.add_argument(
        "--dataset", default="mnist", help="mnist (the real figures), digits or csv"
    )
    parser.add_argument("--data-path", type=Path, default=None, help="the CSV, for --dataset csv")
    parser.add_argument("--label-column", default="", help="the CSV's label, for --dataset csv")
    parser.add_argument("--max-train-samples", type=int, default=0, help="0 = all rows")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: results/)")


def write_result(name: str, args: argparse.Namespace, result: dict[str, Any]) -> Path:
    """``result`` with the settings, machine and note, as ``results/<name>.json`` or ``--out``."""
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    body = {
        "benchmark": name,
        "settings": settings,
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "note": NOTE,
        **result,
    }
    stem = name if getattr(args, "dataset", "mnist") == "mnist" else f"{name}-{args.dataset}"
    out = args.out or RESULTS / f"{stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=2, default=float) + "\n")
    print(f"wrote {out}", flush=True)
    return out


def sweep_flags(args: argparse.Namespace) -> list[str]:
    """The data flags of ``pipelines.sweep`` (and ``pipelines.train``) from a benchmark's
    arguments; a CSV's path made absolute, as the runs start in a directory of their own."""
    flags = [
        "--dataset", args.dataset, "--max-train-samples", str(args.max_train_samples),
        "--seed", str(args.seed),
    ]  # fmt: skip
    if getattr(args, "data_path", None):
        flags += ["--data-path", str(Path(args.data_path).resolve())]
    if getattr(args, "label_column", ""):
        flags += ["--label-column", args.label_column]
    return flags


def run_sweep(flags: list[str], *, study: str = "bench") -> dict[str, Any]:
    """``python -m pipelines.sweep`` in one process, in a fresh directory with SQLite tracking
    and Optuna stores; what the study and the store hold afterwards."""
    import subprocess
    import sys
    import tempfile

    import optuna
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tracking_uri = f"sqlite:///{tmp}/mlflow.db"
        storage = f"sqlite:///{tmp}/optuna.db"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [
            sys.executable, "-m", "pipelines.sweep", *flags, "--storage", storage,
            "--study-name", study, "--workers", "1", "--trials-per-process", "0",
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        failed = [line for line in done.stderr.splitlines() if "failed" in line.lower()]
        if failed:  # a trial's own error, not a reason to stop: say it
            print("\n".join(failed[:5]), file=sys.stderr, flush=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
        loaded = optuna.load_study(study_name=study, storage=storage)
        client = MlflowClient(tracking_uri)
        trials: list[dict[str, Any]] = []
        for trial in loaded.trials:
            run_id = trial.user_attrs.get("mlflow_run_id")
            metrics = client.get_run(run_id).data.metrics if run_id else {}
            trials.append(
                {
                    "number": trial.number,
                    "state": trial.state.name,
                    "params": trial.params,
                    "epochs_trained": int(metrics.get("epochs_trained", 0)),
                    "intermediate_values": len(trial.intermediate_values),
                    "best_val_accuracy": metrics.get("best_val_accuracy"),
                    "test_accuracy": metrics.get("test_accuracy"),
                    "fit_seconds": metrics.get("fit_seconds"),
                    # cross-validated trials (small data): the folds' mean and spread
                    **{k: trial.user_attrs[k] for k in CV_ATTRS if k in trial.user_attrs},
                }
            )
        champion: dict[str, Any] = {}
        for model in client.search_registered_models():
            try:
                version = client.get_model_version_by_alias(model.name, "champion")
            except Exception:  # no champion in this model
                continue
            run_metrics = client.get_run(str(version.run_id)).data.metrics
            champion = {
                "model": model.name,
                "version": version.version,
                "run_id": version.run_id,
                "test_accuracy": run_metrics.get("test_accuracy"),
                "best_val_accuracy": run_metrics.get("best_val_accuracy"),
                # the score it was chosen by, on its registered version (cross-validation)
                **{k: float(v) for k, v in version.tags.items() if k in ("cv_mean", "cv_std")},
                **{k: int(v) for k, v in version.tags.items() if k == "cv_folds"},
            }
        # The pruner the study ran with, as the sweep logged it on its parent run.
        parent = client.get_run(loaded.user_attrs["mlflow_parent_run_id"])
        refit: dict[str, Any] = {}
        if isinstance(done_refit := loaded.user_attrs.get("refit"), dict):
            refit_metrics = client.get_run(done_refit["run_id"]).data.metrics
            refit = {
                **done_refit,
                "test_accuracy": refit_metrics.get("test_accuracy"),
                "epochs_trained": int(refit_metrics.get("epochs_trained", 0)),
            }
        folds = client.search_runs(  # cross-validation: the folds after each trial's first
            [parent.info.experiment_id], "tags.`sweep.role` = 'fold'", max_results=10000
        )
        complete = [t for t in trials if t["state"] == "COMPLETE"]
        val = [
            float(t["best_val_accuracy"]) for t in complete if t["best_val_accuracy"] is not None
        ]
        return {
            "pruner": parent.data.params["pruner"],
            "monitor": parent.data.params.get("monitor"),
            "seconds": seconds,
            "n_trials": len(trials),
            "states": {
                s: sum(t["state"] == s for t in trials) for s in {t["state"] for t in trials}
            },
            "epochs_trained": sum(t["epochs_trained"] for t in trials),  # trials' own runs
            "fold_runs": len(folds),
            "fold_epochs_trained": sum(int(r.data.metrics.get("epochs_trained", 0)) for r in folds),
            "best_value": loaded.best_value if complete else None,
            "best_trial": loaded.best_trial.number if complete else None,
            "best_val_accuracy": max(val) if val else None,  # over complete trials
            "best_trial_val_accuracy": (  # of the trial the objective chose
                trials[loaded.best_trial.number]["best_val_accuracy"] if complete else None
            ),
            "champion": champion,
            "promotion": {k: v for k, v in parent.data.tags.items() if k.startswith("promotion.")},
            "refit": refit,
            "trials": trials,
        }


def single_run(flags: list[str]) -> dict[str, Any]:
    """``python -m pipelines.train`` with ``flags`` (defaults otherwise, registering included)
    in a fresh directory: wall time, test accuracy, epochs trained."""
    import subprocess
    import sys
    import tempfile

    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp:
        tracking_uri = f"sqlite:///{tmp}/mlflow.db"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [sys.executable, "-m", "pipelines.train", *flags]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
        (run,) = MlflowClient(tracking_uri).search_runs(["0"])
        m = run.data.metrics
        return {
            "seconds": seconds,
            "test_accuracy": m.get("test_accuracy"),
            "epochs_trained": int(m.get("epochs_trained", 0)),
            "recommended_epochs": m.get("recommended_epochs"),
            "best_epoch": m.get("best_epoch"),  # 0-based step
            "fit_seconds": m.get("fit_seconds"),
            "diagnosis": run.data.tags.get("diagnosis"),
            "stop_reason": run.data.tags.get("stop_reason"),
        }
