from __future__ import annotations

import mlflow
import pytest

from pipelines.evaluate import main
from tests.helpers import train_run
from tracking.config.train import TrainConfig

DATA = ["--dataset", "digits", "--seed", "5"]


def test_evaluate_scores_the_registered_model_as_its_run_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = train_run(
        TrainConfig(
            dataset="digits",
            seed=5,
            hidden_units="32",
            epochs=3,
            registered_model_name="digits-mlp",
        )
    )
    assert main(["--model-uri", "models:/digits-mlp/1", *DATA]) == 0
    out = capsys.readouterr().out
    assert f"test accuracy {result.test_accuracy:.4f}" in out
    runs = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="attributes.run_name LIKE 'evaluate-%'",
    )
    (run,) = runs
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-6)
    assert run.data.params["model_uri"] == "models:/digits-mlp/1"
    # MLflow's own evaluation of the same rows, in the same run: its metrics and plots.
    assert run.data.metrics["accuracy_score"] == pytest.approx(result.test_accuracy, abs=1e-6)
    assert {"f1_score", "example_count"} <= set(run.data.metrics)
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "per_class_metrics.csv"} <= artifacts
    assert f"mlflow.models.evaluate: accuracy_score {result.test_accuracy:.4f}" in out


def test_unknown_model_uri_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model-uri", "models:/nobody@champion", *DATA]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    assert len(err) == 1 and err[0].startswith("error: model_uri='models:/nobody@champion'")
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
