"""What mirroring checkpoints to the tracking store costs a training (``-P checkpoint_every``).

The same ``tracking.run.training.train()`` (defaults: the 300-200-100 MLP, batch 128, system
metrics; no early stopping, no registry) with ``checkpoint_every=off`` and ``=epoch``, run
alternately (off then epoch in even rounds, epoch then off in odd ones) in one process after an
unmeasured warm-up, into two stores: ``local`` (a fresh SQLite store and artifact folder per
repetition) and ``server`` (a real ``mlflow server --artifacts-destination`` on this machine,
proxied artifacts over HTTP; which shares the 2 cores with the training, so its cost is an upper
bound for a remote one). Each repetition times ``train()`` from start to end, checkpoint deletion
included.

Reports the median seconds of each variant, epoch/off per store, per-round ratios and the size
of one checkpoint. On a loaded shared machine whole-run times vary by more than the cost looked
for, so it also reports what mirroring itself takes, from timers around its parts: the training
thread's wall time in ``CheckpointMirror.on_epoch_end`` (linking the files aside) and
``CheckpointMirror.close`` (the last upload and the deletion), plus the CPU time of the upload
thread (``time.thread_time`` in ``CheckpointStore.upload``: at worst it takes a core from
training); their sum over the ``off`` run's median time is ``parts_over_off``.

    .venv/bin/python benchmarks/checkpoint_cost.py --repeats 3 --epochs 5

Writes ``benchmarks/results/checkpoint_cost.json``. Not run by CI (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import add_data_flags, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from tracking.config.train import TrainConfig  # noqa: E402
from tracking.data.datasets import Dataset, load_dataset  # noqa: E402
from tracking.door.tracker import Tracker  # noqa: E402
from tracking.run.checkpoints import CheckpointStore  # noqa: E402
from tracking.run.mirror import CheckpointMirror  # noqa: E402
from tracking.run.training import train  # noqa: E402

BIN = Path(sys.executable).parent
TARGET = 1.05  # epoch / off, at most
CADENCES = ("off", "epoch")


PARTS: dict[str, float] = {"blocking": 0.0, "upload_cpu": 0.0}  # seconds, this run so far


def _timed(owner: Any, name: str, part: str, clock: Any) -> None:
    """Add ``clock``'s seconds in ``owner.name`` to ``PARTS[part]`` (wall or thread CPU)."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            PARTS[part] += clock() - started

    setattr(owner, name, timed)


_timed(CheckpointMirror, "on_epoch_end", "blocking", time.perf_counter)
_timed(CheckpointMirror, "close", "blocking", time.perf_counter)
_timed(CheckpointStore, "upload", "upload_cpu", time.thread_time)


class BackupSize(keras.callbacks.Callback):
    """The bytes of the backup's newest epoch (what one checkpoint holds), seen each epoch."""

    def __init__(self, backup: Path) -> None:
        super().__init__()
        self.backup, self.bytes = backup, 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        files = [f for d in self.backup.glob("epoch-*") for f in d.iterdir()]
        self.bytes = max(self.bytes, sum(f.stat().st_size for f in files))


def one_run(
    config: TrainConfig, dataset: Dataset, tracking_uri: str, folder: Path
) -> tuple[float, int]:
    """``train()`` into a new run of ``tracking_uri``, backup in ``folder``: its seconds, and
    the bytes of one checkpoint."""
    tracker = Tracker(tracking_uri)
    run_id = tracker.create_run(f"checkpoint-{config.checkpoint_every}")
    backup = folder / ".backups" / run_id
    size = BackupSize(backup)
    PARTS.update(blocking=0.0, upload_cpu=0.0)
    started = time.perf_counter()
    with tracker.ending(run_id):
        train(config, tracker=tracker, run_id=run_id, dataset=dataset, register=False,
              verbose=0, backup=backup, extra_callbacks=(size,))  # fmt: skip
    return time.perf_counter() - started, size.bytes


@contextmanager
def server(root: Path) -> Iterator[str]:
    """``mlflow server`` with proxied artifacts (``--artifacts-destination``) on a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root}/server.db",
        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(command, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start: {root}/server.log") from None
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


@contextmanager
def local_store(root: Path) -> Iterator[str]:
    """A fresh SQLite store whose artifacts go to a folder beside it (its working directory)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    here = Path.cwd()
    os.chdir(folder)
    try:
        yield f"sqlite:///{folder}/mlflow.db"
    finally:
        os.chdir(here)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=5)
    parser.add_argument("--repeats", type=int, default=3, help="measured rounds")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument("--stores", default="local,server", help="local, server or both")
    args = parser.parse_args()
    stores = args.stores.split(",")
    base = TrainConfig(
        dataset=args.dataset, max_train_samples=args.max_train_samples, epochs=args.epochs,
        seed=args.seed, patience=args.epochs, registered_model_name="",
    )  # fmt: skip
    dataset = load_dataset(base)
    seconds: dict[str, list[float]] = {f"{s}/{c}": [] for s in stores for c in CADENCES}
    parts: dict[str, list[dict[str, float]]] = {s: [] for s in stores}
    load_start = os.getloadavg()[0]
    checkpoint_bytes = 0
    with tempfile.TemporaryDirectory(prefix="checkpoint-cost-") as tmp:
        root = Path(tmp)
        with server(root) as url:
            for round_ in range(0 if args.no_warmup else -1, args.repeats):
                for store in stores:
                    # Which variant goes first alternates by round: a drift in the machine's
                    # speed within a round (the second run always faster) does not favour one.
                    for cadence in CADENCES if round_ % 2 == 0 else CADENCES[::-1]:
                        config = dataclasses.replace(base, checkpoint_every=cadence)
                        if store == "server":
                            folder = Path(tempfile.mkdtemp(dir=root))
                            took, size = one_run(config, dataset, url, folder)
                        else:
                            with local_store(root) as uri:
                                took, size = one_run(config, dataset, uri, Path.cwd())
                        checkpoint_bytes = max(checkpoint_bytes, size)
                        print(f"round {round_} {store} {cadence}: {took:.1f} s", flush=True)
                        if round_ >= 0:  # round -1 warms up TensorFlow and the stores
                            seconds[f"{store}/{cadence}"].append(took)
                            if cadence == "epoch":
                                parts[store].append(dict(PARTS))
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    ratios = {s: medians[f"{s}/epoch"] / medians[f"{s}/off"] for s in stores}
    per_round = {
        s: [e / o for e, o in zip(seconds[f"{s}/epoch"], seconds[f"{s}/off"], strict=True)]
        for s in stores
    }
    parts_over_off = {
        s: statistics.median(sum(p.values()) for p in parts[s]) / medians[f"{s}/off"]
        for s in stores
    }
    result = {
        "repeats": args.repeats,
        "epochs": args.epochs,
        "load_average": {"start": load_start, "end": os.getloadavg()[0]},
        "seconds": seconds,
        "median_seconds": medians,
        "epoch_over_off": ratios,
        "per_round_epoch_over_off": per_round,
        "checkpoint_megabytes": round(checkpoint_bytes / 1e6, 2),
        "parts_seconds": parts,
        "parts_over_off": parts_over_off,
        "targets": {
            "epoch_over_off_at_most": TARGET,
            "met": all(r <= TARGET for r in ratios.values()),
            "parts_met": all(r <= TARGET - 1 for r in parts_over_off.values()),
        },
    }
    for store, ratio in ratios.items():
        print(f"{store}: checkpoint_every=epoch {ratio:.3f}x off; its parts "
              f"{100 * parts_over_off[store]:.1f} % of off", flush=True)  # fmt: skip
    write_result("checkpoint_cost", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
