"""benchmarks/checkpoint_cost.py on digits, one round of two epochs: it times both cadences in
both stores (a real ``mlflow server`` among them), measures a checkpoint, and its row renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


@pytest.mark.slow
def test_checkpoint_cost_times_both_cadences_in_both_stores(tmp_path: Path) -> None:
    out = tmp_path / "checkpoint_cost.json"
    done = subprocess.run(
        [sys.executable, str(BENCH / "checkpoint_cost.py"), "--dataset", "digits",
         "--max-train-samples", "400", "--epochs", "2", "--repeats", "1", "--no-warmup",
         "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["note"] and r["cpus"] and r["settings"]["dataset"] == "digits"
    # One timing per store and cadence, and a ratio per store.
    assert sorted(r["seconds"]) == ["local/epoch", "local/off", "server/epoch", "server/off"]
    assert all(len(v) == 1 and v[0] > 0 for v in r["seconds"].values())
    assert sorted(r["epoch_over_off"]) == ["local", "server"]
    assert r["checkpoint_megabytes"] > 0  # a backup was there to be mirrored
    assert r["targets"]["met"] == all(x <= 1.05 for x in r["epoch_over_off"].values())
    sys.path.insert(0, str(BENCH))
    try:
        import report
    finally:
        sys.path.remove(str(BENCH))
    title, measured, target, _ = report.checkpoint_cost(r)
    assert title.startswith("Checkpoints") and "x" in measured and target == "<= 1.05x"
