"""Record the learning curves of one real training: ``python -m pipelines.train`` in a fresh
directory with a SQLite tracking store, then the run's ``history.csv`` artifact and its tags.

Shared by ``record_curves.py`` (the gallery fixtures of ``tests/tracking_tests/curves/``) and
``diagnosis_agreement.py`` (the grid).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import REPO


def record(flags: Sequence[str]) -> dict[str, Any]:
    """Train once with ``flags`` (``pipelines.train``'s), nothing registered. What the run logged:
    ``history`` (column -> values, ``step`` and ``epoch`` included), ``tags``, ``description``,
    ``params``, ``metrics`` (the run's summary metrics) and ``seconds`` (the whole command)."""
    import pandas as pd
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="bench-curves-") as tmp:
        tracking_uri = f"sqlite:///{tmp}/mlflow.db"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            "TF_CPP_MIN_LOG_LEVEL": "2",
        }
        command = [
            sys.executable, "-m", "pipelines.train", *flags, "--registered-model-name", "",
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, cwd=tmp, env=env, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr}")
        client = MlflowClient(tracking_uri)
        (run,) = client.search_runs(["0"])
        path = client.download_artifacts(run.info.run_id, "history.csv", tmp)
        frame = pd.read_csv(Path(path))
        return dict(
            history={c: frame[c].tolist() for c in frame.columns},
            tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            description=run.data.tags.get("mlflow.note.content", ""),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            seconds=seconds,
        )
