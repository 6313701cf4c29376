"""Per-epoch metric logging: synchronous vs asynchronous (what MlflowEpochLogger does).

Side by side in one process, against the same kind of store a user has (a SQLite file):
`python benchmarks/epoch_logging.py [--epochs 200] [--repeats 3]`. Reports the time per epoch
of each mode and their ratio. Not run by CI.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mlflow

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def log_epochs(epochs: int, synchronous: bool) -> tuple[float, float]:
    """Seconds the loop is blocked in ``log_metrics``, and seconds until all is flushed."""
    with mlflow.start_run() as run:
        blocked = 0.0
        started = time.perf_counter()
        for step in range(epochs):
            metrics = {k: 1.0 / (step + 1) for k in KEYS}
            call = time.perf_counter()
            mlflow.log_metrics(metrics, step=step, run_id=run.info.run_id, synchronous=synchronous)
            blocked += time.perf_counter() - call
            time.sleep(0.005)  # the epoch's own work, during which a background writer can run
        mlflow.flush_async_logging()
        return blocked, time.perf_counter() - started - 0.005 * epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        log_epochs(5, True)  # schema creation and warm-up, not measured
        timings: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        for _ in range(args.repeats):  # interleaved, so drift hits both modes alike
            for synchronous in (True, False):
                timings[synchronous].append(log_epochs(args.epochs, synchronous))

    def per_epoch_ms(synchronous: bool, index: int) -> float:
        return statistics.median(t[index] for t in timings[synchronous]) / args.epochs * 1000

    print(f"{args.epochs} epochs x {len(KEYS)} metrics, median of {args.repeats}, SQLite store")
    print("                 blocked in the loop   wall time beyond the epochs' own work")
    for synchronous, name in ((True, "synchronous "), (False, "asynchronous")):
        print(
            f"  {name}: {per_epoch_ms(synchronous, 0):8.2f} ms/epoch "
            f"{per_epoch_ms(synchronous, 1):16.2f} ms/epoch"
        )
    print(
        f"  blocked-time ratio synchronous / asynchronous: "
        f"{per_epoch_ms(True, 0) / per_epoch_ms(False, 0):.1f}x"
    )


if __name__ == "__main__":
    main()
