"""What the README's Python prints, run as a script: what the user asked for, nothing else.

The two blocks under "Your own model and data" (``tracking.track``, then ``tracking.track_study``)
are run as one script in a fresh process on a fresh SQLite store. Its stdout and stderr, line by
line, hold Keras's epoch lines, Optuna's trial lines and the two lines the README's ``print``
calls write; no MLflow INFO line (the system-metrics sampler's four a run, a new store's two: see
``tracking.door.tracker.QUIET_LOGGERS``). TensorFlow's C++ start-up notices, which it writes on
stderr when ``import keras`` loads it, cannot be silenced from the library (only
``TF_CPP_MIN_LOG_LEVEL`` set before that import does, which the README does not ask for): they
are filtered here, by their exact shapes, and nothing else is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines_tests.test_notebook import readme_blocks

ALLOWED = {
    "keras epoch": r"Epoch \d+/\d+",
    # a progress bar (its updates joined by carriage returns), ending with the epoch's metrics
    "keras progress": r"(\r?\S*\s*\d+/\d+\S*\s.*)+(loss|accuracy).*",
    "optuna study": r"\[I [\d\-: ,]+\] A new study created in memory with name: digits-cnn",
    "optuna trial": r"\[I [\d\-: ,]+\] Trial \d+ (finished with value: .*|pruned\. .*)",
    "readme print (track)": r"digits-cnn/\d+ \{'test_accuracy': .*\}",
    "readme print (track_study)": r".*challenger test accuracy .*",
}
# TensorFlow's C++ start-up notices on stderr (absl), filtered, see above.
TENSORFLOW_NOTICES = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"I\d{4} [\d:. ]+\d+ \w+\.cc:\d+\] .*",
    r"To enable the following instructions: .*rebuild TensorFlow .*",
)


def unexpected_lines(output: str) -> list[str]:
    """The lines of ``output`` that are neither ``ALLOWED`` nor TensorFlow's notices."""
    patterns = [re.compile(p) for p in (*ALLOWED.values(), *TENSORFLOW_NOTICES)]
    lines = [line for line in output.split("\n") if line.strip()]
    return [line for line in lines if not any(p.fullmatch(line) for p in patterns)]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_readme_python_prints_only_what_the_user_asked_for(tmp_path: Path) -> None:
    script = tmp_path / "readme_example.py"
    script.write_text("\n".join(readme_blocks()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'fresh.db'}"  # created by the script
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=360,
    )
    output = done.stdout
    assert done.returncode == 0, output[-3000:]
    assert unexpected_lines(output) == []
    # and what was asked for is there: five epochs, four trials, the two prints
    lines = output.split("\n")
    assert sum(bool(re.fullmatch(ALLOWED["keras epoch"], line)) for line in lines) == 5
    assert sum(bool(re.fullmatch(ALLOWED["optuna trial"], line)) for line in lines) == 4
    assert any(re.fullmatch(ALLOWED["readme print (track)"], line) for line in lines)
    assert any(re.fullmatch(ALLOWED["readme print (track_study)"], line) for line in lines)


def test_the_console_patterns_refuse_mlflow_info_lines() -> None:
    # The lines the system-metrics sampler printed for every run before the Tracker quieted it.
    printed = (
        "2026/12/06 05:07:21 INFO mlflow.system_metrics.system_metrics_monitor: Started "
        "monitoring system metrics.\nEpoch 1/5\n[I 2026-12-06 05:07:38,577] Trial 0 finished "
        "with value: 0.23 and parameters: {'filters': 16}. Best is trial 0 with value: 0.23.\n"
    )
    assert unexpected_lines(printed) == [printed.split("\n")[0]]
