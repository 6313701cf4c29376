"""A sweep of examples/cnn.py with examples/cnn_space.yaml on digits as 8x8x1 images: the
space's entries are trial params and reach the model function; a bad space leaves nothing."""

from __future__ import annotations

import re
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from pipelines.sweep import main as sweep
from tests.helpers import role_filter

REPO = Path(__file__).resolve().parents[2]
CNN = f"{REPO / 'examples' / 'cnn.py'}:build"
SPACE = str(REPO / "examples" / "cnn_space.yaml")


def test_a_bad_search_space_is_refused_in_seconds_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "space.yaml"
    bad.write_text("parameters:\n  kernel_size: {distribution: int_uniform, min: 5, max: 3}\n")
    started = time.monotonic()
    assert sweep(["--dataset", "digits", "--model", CNN, "--search-space", str(bad)]) == 2
    assert time.monotonic() - started < 10
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "search_space=" in line and "entry 'kernel_size' has min=5 above max=3" in line, line
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert not Path("optuna.db").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sweep_searches_the_space_and_the_model_function_gets_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--dataset", "digits", "--input-shape", "image", "--model", CNN, "--n-trials", "3",
            "--cv-folds", "0"]  # fmt: skip
    argv += ["--search-space", SPACE, "--params", '{"filters": 16}', "--max-train-samples", "300"]
    argv += ["--epochs-min", "1", "--epochs-max", "2", "--pruner", "none", "--refit", "false"]
    assert sweep(argv) == 0
    trials = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=role_filter("trial"),
        output_format="list",
    )
    assert len(trials) == 3
    client = MlflowClient()
    seen = set()
    for run in trials:
        params = run.data.params
        filters, kernel, dense = (int(params[k]) for k in ("filters", "kernel_size", "dense_units"))
        assert filters in (32, 16, 8) and 3 <= kernel <= 5 and 32 <= dense <= 256
        seen.add((filters, kernel, dense))
        # The model the function built has them: conv_1's channels and weights, the Dense width.
        summary = Path(client.download_artifacts(run.info.run_id, "model_summary.txt")).read_text()
        conv = re.search(r"conv_1 \(Conv2D\)\s+│ \(None, 8, 8, (\d+)\)\s+│\s+([\d,]+)", summary)
        assert conv, summary
        assert int(conv[1]) == filters
        assert int(conv[2].replace(",", "")) == (kernel * kernel + 1) * filters
        assert re.search(rf"\(Dense\)\s+│ \(None, {dense}\)", summary), summary
    assert len(seen) > 1  # the entries were searched, not fixed
    base = [r for r in trials if r.data.tags.get("optuna.trial_number") == "0"]
    assert [(r.data.params["filters"], r.data.params["kernel_size"]) for r in base] == [
        ("16", "3")  # -P params' filters, the space's default kernel_size
    ]
    (parent,) = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=role_filter("parent"),
        output_format="list",
    )
    assert {"best.filters", "best.kernel_size", "best.dense_units"} <= set(parent.data.tags)
    assert "digits-cnn version 1 (best trial) is now @champion" in capsys.readouterr().out
    assert MlflowClient().get_model_version_by_alias("digits-cnn", "champion")
