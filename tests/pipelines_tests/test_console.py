"""A quiet console by default: what a user sees when training starts and ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# TensorFlow's C++ log lines (cpu_feature_guard, oneDNN, absl's preamble) and Keras progress bars.
NOISE = re.compile(r"absl::InitializeLog|cpu_feature_guard|oneDNN|^[IWEF]\d{4} |━")


def test_training_prints_no_tensorflow_lines_and_no_progress_bars(
    repo: Path, tmp_path: Path, tracking_store: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user has it
    env.update(MLFLOW_TRACKING_URI=tracking_store, PYTHONPATH=f"{repo}{os.pathsep}{repo / 'src'}")

    def run(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", module, *argv]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        noise = [line for line in (done.stdout + done.stderr).splitlines() if NOISE.search(line)]
        assert noise == []
        return done

    trained = run("pipelines.train", "--dataset", "digits", "--hidden-units", "16", "--epochs", "2")
    # What is left says what happened: one line per epoch, the registration, the result.
    assert "Epoch 2/2" in trained.stdout and "test accuracy" in trained.stdout.splitlines()[-1]
    assert "registered digits-mlp version 1" in trained.stderr
    scored = run("pipelines.evaluate", "--model-uri", "models:/digits-mlp/1", "--dataset", "digits")
    assert scored.stdout.startswith("models:/digits-mlp/1: test accuracy")
