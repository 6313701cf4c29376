"""Scale-out on this machine: trials per hour with ``workers=1`` and ``workers=2``, and resident
memory per trial with and without recycling worker processes (``trials_per_process``).

Every variant is the real command (``python -m pipelines.sweep``) in a fresh temporary directory
with SQLite tracking and Optuna stores, run one after the other in one invocation of this script.

- throughput: the same study (``pruner=none``, fixed epochs, so every trial does the same work)
  with 1 and 2 workers; trials per hour = trials / wall time, and the ratio of the two;
- memory: the summed resident set size (VmRSS from /proc) of the sweep's process tree, sampled
  every 0.25 s; "MB per trial" is the least-squares slope of the highest sample seen while k
  trials were finished, against k, after 2 warm-up trials. Without recycling all trials run in
  one process (``workers=1 trials_per_process=0``); with it a fresh worker every N trials.

    .venv/bin/python benchmarks/workers.py [--dataset digits] [--trials 12] [--memory-trials 60]

Writes ``benchmarks/results/workers.json``. Not run by CI (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_sweep(args: argparse.Namespace, n_trials: int, *flags: str) -> dict[str, object]:
    """One sweep in a fresh directory; wall time and the memory samples per finished trial."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        storage = f"sqlite:///{tmp}/optuna.db"
        command = [
            sys.executable, "-m", "pipelines.sweep", "--dataset", args.dataset,
            "--max-train-samples", str(args.max_train_samples), "--hidden-units", args.hidden,
            "--epochs-min", str(args.epochs), "--epochs-max", str(args.epochs),
            "--batch-sizes", "64", "--pruner", "none", "--n-trials", str(n_trials),
            "--storage", storage, "--study-name", "bench", "--registered-model-name", "",
            *flags,
        ]  # fmt: skip
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=tmp, env=env, stderr=subprocess.DEVNULL)
        peak_by_finished: dict[int, float] = {}
        finished = 0
        while process.poll() is None:
            time.sleep(0.25)
            finished = _finished(storage, finished)
            rss = tree_rss_mb(process.pid)
            peak_by_finished[finished] = max(peak_by_finished.get(finished, 0.0), rss)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {process.returncode}")
        return {"seconds": seconds, "trials": n_trials, "peak_rss_mb": peak_by_finished}


def _finished(storage: str, last: int) -> int:
    try:
        study = optuna.load_study(study_name="bench", storage=storage)
    except Exception:  # not created yet, or the file is being written
        return last
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def mb_per_trial(peaks: dict[int, float], warmup: int = 2) -> float:
    points = sorted((k, v) for k, v in peaks.items() if k >= warmup)
    if len(points) < 3:
        return float("nan")
    x, y = np.array(points).T
    return float(np.polyfit(x, y, 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--max-train-samples", type=int, default=0)
    parser.add_argument("--hidden", default="300,200,100")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--trials", type=int, default=12, help="trials per throughput run")
    parser.add_argument("--memory-trials", type=int, default=60)
    parser.add_argument("--recycle-every", type=int, default=20)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    result: dict[str, object] = {"settings": vars(args), "cpus": os.cpu_count()}
    for workers in (1, 2):
        run = run_sweep(args, args.trials, "--workers", str(workers), "--trials-per-process", "0")
        per_hour = 3600 * args.trials / float(run["seconds"])  # type: ignore[arg-type]
        result[f"workers_{workers}"] = {"seconds": run["seconds"], "trials_per_hour": per_hour}
        print(f"workers={workers}: {args.trials} trials in {run['seconds']:.0f} s "
              f"= {per_hour:.0f} trials/hour", flush=True)  # fmt: skip
    speedup = result["workers_2"]["trials_per_hour"] / result["workers_1"]["trials_per_hour"]  # type: ignore[index]
    result["speedup_2_over_1"] = speedup
    print(f"workers=2 / workers=1: {speedup:.2f}x trials per hour", flush=True)

    if not args.skip_memory:
        for name, flags in (
            ("one_process", ("--workers", "1", "--trials-per-process", "0")),
            ("recycled", ("--workers", "1", "--trials-per-process", str(args.recycle_every))),
        ):
            run = run_sweep(args, args.memory_trials, *flags)
            peaks = run["peak_rss_mb"]
            assert isinstance(peaks, dict)
            slope = mb_per_trial(peaks)
            result[f"memory_{name}"] = {
                "seconds": run["seconds"],
                "mb_per_trial": slope,
                "peak_rss_mb": max(peaks.values()),
                "peak_rss_mb_by_finished_trials": peaks,
            }
            print(f"memory {name}: {slope:+.2f} MB/trial over {args.memory_trials} trials, "
                  f"peak {max(peaks.values()):.0f} MB", flush=True)  # fmt: skip

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"workers-{args.dataset}.json"
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
