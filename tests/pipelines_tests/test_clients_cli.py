"""Batch scoring with `mlflow models predict -t csv|json --env-manager local` on registered models.

MLflow's own command, given a CSV as ``DataFrame.to_csv`` writes it (MLflow reads it with plain
``pd.read_csv``: whole numbers become int64) or a JSON request body. In this process through
its click command (fast, every model), and as a fresh process in which the ``tracking`` package
cannot be imported (the model must load with what it ships), whose stdout must be exactly the
JSON answer and whose stderr holds no Keras progress bar or TensorFlow notice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from click.testing import CliRunner
from mlflow.models.cli import commands

from tests import browser
from tests.pipelines_tests.test_clients_rest import bodies, check_predictions
from tests.registered_models import Reference, Registered, Zoo, model_params

# `mlflow` itself, with the project's packages made unimportable.
WITHOUT_PROJECT = (
    "import sys; sys.modules.update(tracking=None, pipelines=None); "
    "from mlflow.cli import cli; cli(prog_name='mlflow')"
)
NOISE = ("━", "/step", "oneDNN", "cpu_feature_guard", "absl::InitializeLog")


def request_file(registered: Registered, content_type: str, directory: Path) -> Path:
    """The rows as users hold them: a CSV file, or a JSON body (MNIST as 28 x 28 images,
    a CSV model's rows with their label as ``dataframe_split``)."""
    data = registered.data
    if content_type == "csv":
        return data.write_csv(directory / f"{registered.id}.csv")
    body = bodies(data)["dataframe_split" if data.label else "inputs"]
    path = directory / f"{registered.id}.json"
    path.write_text(json.dumps(body))
    return path


def predict_args(registered: Registered, path: Path, content_type: str) -> list[str]:
    return [
        *("predict", "-m", registered.uri, "-i", str(path), "-t", content_type),
        *("--env-manager", "local"),
    ]


@pytest.mark.parametrize("content_type", ["csv", "json"])
@pytest.mark.parametrize("model_id", model_params())
def test_mlflow_models_predict_scores_csv_and_json(
    zoo: Zoo, model_id: str, content_type: str
) -> None:
    registered = zoo[model_id]
    path = request_file(registered, content_type, zoo.directory)
    keras.utils.enable_interactive_logging()  # as in a user's process (training turned it off)
    result = CliRunner().invoke(commands, predict_args(registered, path, content_type))
    assert result.exit_code == 0, (result.output[-2000:], result.exception)
    answer = json.loads(result.stdout)  # nothing else on stdout
    check_predictions(answer["predictions"], Reference(registered)(), registered.data.regression)


# One fresh process per model, each format on each dataset; the first is in the default suite
# (the first complaint: a CSV of raw digit rows).
FRESH = [
    ("digits-sweep", "csv"),
    ("digits-main", "json"),
    ("mnist-main", "json"),
    ("mnist-sweep", "csv"),
    ("wine-main", "csv"),
    ("wine-sweep", "json"),
    ("diabetes-main", "json"),
    ("diabetes-sweep", "csv"),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("model_id", "content_type"),
    [pytest.param(*case, marks=() if i == 0 else pytest.mark.slow) for i, case in enumerate(FRESH)],
)
def test_mlflow_models_predict_in_a_fresh_process(
    zoo: Zoo, model_id: str, content_type: str, tmp_path: Path
) -> None:
    registered = zoo[model_id]
    path = request_file(registered, content_type, tmp_path)
    env = browser.project_env(zoo.store)
    env.pop("PYTHONPATH")  # the repo is not on the path
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it
    command = [sys.executable, "-c", WITHOUT_PROJECT, "models"]
    done = subprocess.run(
        [*command, *predict_args(registered, path, content_type)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)  # stdout is the answer and nothing else
    check_predictions(answer["predictions"], Reference(registered)(), registered.data.regression)
    noise = [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)]
    assert noise == [], noise
