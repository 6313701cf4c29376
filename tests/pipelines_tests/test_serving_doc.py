"""docs/serving.md, run: every bash and python block, as a user pastes them, in a fresh directory.

The bash blocks run in order with the project's environment on PATH and the repo on the Python
path, tracking into ``./mlflow.db`` (MLflow's default); the servers they start with ``&`` get
free ports in place of 5001 and 5002 and are stopped at the end. Then the python blocks run, each
in a namespace of its own, in one interpreter. What the page says they print is checked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import browser

PAGE = browser.REPO / "docs" / "serving.md"
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = "@@ block {} @@"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def blocks(language: str) -> list[str]:
    found, inside, lines = [], None, []
    for line in PAGE.read_text().splitlines():
        fence = FENCE.match(line)
        if fence and inside is None:
            inside, lines = fence.group(1), []
        elif fence:
            if inside == language:
                found.append("\n".join(lines) + "\n")
            inside = None
        elif inside is not None:
            lines.append(line)
    return found


def user_env() -> dict[str, str]:
    """A user's shell with the project's environment active: no test tracking URI."""
    env = browser.project_env("")
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)
    return env


@pytest.fixture
def groups() -> Iterator[list[int]]:
    """Process groups of the bash blocks (servers started with `&` live on in them)."""
    started: list[int] = []
    yield started
    for pgid in started:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break


def run_bash(block: str, cwd: Path, ports: dict[str, str], groups: list[int]) -> str:
    for shown, port in ports.items():
        block = block.replace(shown, port)
    out, err = cwd / f"block-{len(groups)}.out", cwd / f"block-{len(groups)}.err"
    with out.open("w") as stdout, err.open("w") as stderr:  # files: `&` servers keep them open
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=cwd,
            env=user_env(),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        groups.append(process.pid)
        code = process.wait(timeout=900)
    assert code == 0, f"{block}\nexited {code}:\n{err.read_text()[-3000:]}"
    return out.read_text()


def test_every_block_of_the_serving_page_runs_and_says_what_it_shows(
    tmp_path: Path, groups: list[int]
) -> None:
    ports = {"5001": str(browser.free_port()), "5002": str(browser.free_port())}
    said = [run_bash(block, tmp_path, ports, groups) for block in blocks("bash")]
    setup, predict, predict_json, serve_digits, serve_wine, entry_point = said

    # mlflow models predict: stdout is the answer, a digit per CSV row
    assert [type(p) for p in json.loads(predict)["predictions"]] == [int] * 20
    assert json.loads((tmp_path / "cultivars.json").read_text())["predictions"][:3] == [0, 0, 0]
    records = json.loads(predict_json)["predictions"]
    assert len(records) == 3 and list(records[0]) == [str(d) for d in range(10)]
    # REST: the four JSON formats answer alike, CSV too; a missing column is 400
    answers = [json.loads(line) for line in serve_digits.splitlines() if "predictions" in line]
    assert len(answers) == 5 and all(a == answers[0] for a in answers[:4]), answers
    assert answers[4]["predictions"][:3] == answers[0]["predictions"]
    wine = [line for line in serve_wine.splitlines() if line[:1] == "{" or line.isdigit()]
    assert json.loads(wine[0]) == {"predictions": [0]} and wine[1] == "400", wine
    # the evaluate entry point: ours, then MLflow's
    lines = entry_point.splitlines()
    assert lines[0].startswith("models:/digits-mlp@champion: test accuracy 0.9"), lines
    assert lines[1].startswith("mlflow.models.evaluate: accuracy_score 0.9"), lines
    assert lines[2].startswith("models:/diabetes-mlp/latest: test mae "), lines

    runner = "".join(
        f"print({MARK.format(i)!r}, flush=True)\n"
        f"exec(compile({code!r}, 'docs/serving.md', 'exec'), {{}})\n"
        for i, code in enumerate(blocks("python"))
    )
    done = subprocess.run(
        [sys.executable, "-c", runner],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = re.split(r"@@ block \d+ @@\n", done.stdout)[1:]
    digits, wines, native, evaluated = printed
    labels = digits.splitlines()[:3]
    assert labels[0] == labels[1] == labels[2] and len(labels[0].strip("[]").split()) == 10
    assert digits.splitlines()[3].split() == [str(d) for d in range(10)]  # probability columns
    assert wines.splitlines()[1].startswith("missing column 'alcohol': the model takes 13")
    assert native.strip() == "(None, 64)"
    metrics, artifacts, regression = evaluated.splitlines()
    assert "'accuracy_score'" in metrics and "'f1_score'" in metrics
    assert artifacts == "['confusion_matrix', 'per_class_metrics']"
    assert 0 < float(regression.split()[0]) < 100
