"""Each sweep worker process gets its own GPU through its environment (``-P gpus``): checked in
what the supervisor really gives the processes it starts, on this CPU machine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import optuna
import pytest

from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.model.devices import visible_gpus, worker_gpu_env
from tracking.sweep.config import SweepConfig
from tracking.sweep.study import run_sweep
from tracking.sweep.workers import WorkerProcesses

# A stand-in for pipelines.sweep_worker: it reads its WorkerSpec as the real one does, writes
# down its index and CUDA_VISIBLE_DEVICES, and stops as an interrupted worker does (130), which
# the supervisor does not replace.
WORKER = """
import json, os, sys
spec = json.loads(sys.stdin.read())
with open(os.environ["GPU_RECORD"], "a") as f:
    f.write(json.dumps([spec["worker"], os.environ.get("CUDA_VISIBLE_DEVICES")]) + "\\n")
sys.exit(130)
"""


def _given(tmp_path: Path, gpus: str, workers: int = 2) -> dict[int, str | None]:
    """What each of ``workers`` processes started by ``run_sweep`` found in its environment."""
    script, record = tmp_path / "worker.py", tmp_path / "gpus.jsonl"
    script.write_text(WORKER)
    record.unlink(missing_ok=True)
    base = TrainConfig(dataset="digits", max_train_samples=100, registered_model_name="")
    sweep = SweepConfig(
        n_trials=2, workers=workers, gpus=gpus, study_name=f"gpus-{gpus}", refit=False
    )
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    run_sweep(
        base,
        sweep,
        tracker=Tracker(),
        storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/optuna.db"),
        processes=WorkerProcesses(
            (sys.executable, str(script)), {**env, "GPU_RECORD": str(record)}
        ),
    )
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    return dict(lines)


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        ("0", {0: "0", 1: "0"}),  # one GPU: both workers share it
        ("0,1", {0: "0", 1: "1"}),  # one each
        ("2,0,1", {0: "2", 1: "0"}),  # one each, in the order listed; the third stays free
        ("", {0: None, 1: None}),  # none visible here: the environment is left as it was
    ],
)
def test_each_worker_process_gets_its_gpu_in_its_environment(
    tmp_path: Path, gpus: str, expected: dict[int, str | None]
) -> None:
    assert _given(tmp_path, gpus) == expected


def test_more_workers_than_gpus_share_them_evenly() -> None:
    given = [worker_gpu_env(i, ("0", "1"))["CUDA_VISIBLE_DEVICES"] for i in range(5)]
    assert given == ["0", "1", "0", "1", "0"]
    assert worker_gpu_env(3, ()) == {}  # no GPU: nothing added


def test_all_visible_means_what_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    # An explicit list wins; else CUDA_VISIBLE_DEVICES's own entries, as CUDA reads them.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert visible_gpus("0,1") == ("0", "1")
    assert visible_gpus("") == ("3", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,-1,0")  # CUDA stops at -1
    assert visible_gpus("") == ("2",)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus("") == ()
    # Unset: the GPUs TensorFlow finds, none on this machine.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus("") == ()
