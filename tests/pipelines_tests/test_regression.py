"""Regression end to end: a user's CSV with a numeric label, real Keras, real SQLite stores.

sklearn's diabetes data (442 rows, 10 columns, disease progression 25..346) written as a CSV:
trained through `mlflow run`, pulled back from the registry as raw rows, served over REST, and
tuned by a tiny sweep whose promotion compares test MAE (lower is better).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipelines.evaluate import main as evaluate
from tests import browser
from tests.helpers import mlflow_run
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.door.tracker import Tracker
from tracking.run.scoring import score_model_uri
from tracking.sweep.config import SweepConfig
from tracking.sweep.study import run_sweep

LABEL = "progression"
NAME = "diabetes-mlp"
EPOCH_KEYS = ("loss", "mae", "mse", "val_loss", "val_mae", "val_mse", "learning_rate")


@pytest.fixture
def diabetes_csv(tmp_path: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": LABEL})
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def _config(path: Path, **overrides: object) -> TrainConfig:
    values = {"dataset": "csv", "data_path": str(path), "label_column": LABEL}
    return TrainConfig(**{**values, "task": "regression", **overrides})  # type: ignore[arg-type]


def _test_rows(path: Path, config: TrainConfig) -> pd.DataFrame:
    """The file's rows that the run held out for its test split, label included, as stored."""
    dataset = load_dataset(config)
    raw = pd.read_csv(path)
    features = raw[list(dataset.feature_names)].to_numpy(np.float32)
    where = {tuple(row): i for i, row in enumerate(features)}
    return raw.iloc[[where[tuple(r)] for r in dataset.x_test]].reset_index(drop=True)


@pytest.mark.timeout(600)
def test_regression_through_mlflow_run_answers_in_the_labels_units(
    tmp_path: Path, tracking_store: str, diabetes_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"hidden_units": "64,32", "learning_rate": 0.01, "epochs": 40, "patience": 8}
    done = mlflow_run(
        tmp_path,
        tracking_store,
        dataset="csv",
        data_path=diabetes_csv,
        label_column=LABEL,
        task="regression",
        **params,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    run_id, metrics = run.info.run_id, run.data.metrics
    assert run.info.status == "FINISHED"
    client = MlflowClient()

    # every epoch under Keras's keys, at the same steps
    n = int(metrics["epochs_trained"])
    for key in EPOCH_KEYS:
        assert [m.step for m in client.get_metric_history(run_id, key)] == list(range(n)), key
    history = {k: [m.value for m in client.get_metric_history(run_id, k)] for k in EPOCH_KEYS}
    best = int(metrics["best_epoch"])
    assert metrics["best_val_loss"] == pytest.approx(min(history["val_loss"]), rel=1e-6)
    assert metrics["best_val_mae"] == pytest.approx(history["val_mae"][best], rel=1e-6)
    assert run.data.tags["diagnosis"] and "recommended_epochs" in metrics

    # better than predicting the training mean, in the label's units
    config = _config(diabetes_csv, **params)
    dataset = load_dataset(config)
    baseline = float(np.mean(np.abs(dataset.y_test - dataset.label_mean)))
    assert metrics["test_mae"] < 0.9 * baseline, (metrics["test_mae"], baseline)
    assert metrics["test_rmse"] >= metrics["test_mae"] and 0 < metrics["test_r2"] < 1
    assert metrics["test_loss"] == pytest.approx(metrics["test_mae"], rel=1e-3)  # loss = mae

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    artifacts |= {a.path for a in client.list_artifacts(run_id, "plots")}
    expected = {"predicted_vs_actual", "residuals", "loss_curve", "mae_curve", "all_metrics"}
    assert {f"plots/{p}.png" for p in expected} <= artifacts
    assert "test_predictions.csv" in artifacts and "plots/confusion_matrix.png" not in artifacts

    # the registered model: raw rows in, numbers in the label's units out
    version = client.get_model_version(NAME, "1")
    assert version.run_id == run_id and "MAE" in version.description
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    metadata = model.metadata.metadata
    assert (metadata["task"], metadata["label"]) == ("regression", LABEL)
    assert metadata["input"]["columns"] == [c for c in pd.read_csv(diabetes_csv) if c != LABEL]
    rows = _test_rows(diabetes_csv, config)
    shuffled = rows[list(reversed(rows.columns))]  # any column order; the label is ignored
    predicted = np.asarray(model.predict(shuffled)).ravel()
    assert predicted.shape == (len(rows),)
    actual = rows[LABEL].to_numpy(float)
    assert np.mean(np.abs(predicted - actual)) == pytest.approx(metrics["test_mae"], rel=1e-4)
    assert actual.min() - 100 < predicted.min() and predicted.max() < actual.max() + 100
    score = score_model_uri(f"models:/{NAME}/1", dataset)
    assert score.metrics["test_r2"] == pytest.approx(metrics["test_r2"], abs=1e-4)

    # `evaluate` scores it the same way, and says so in the label's terms
    data_flags = ["--dataset", "csv", "--data-path", str(diabetes_csv), "--label-column", LABEL]
    assert evaluate(["--model-uri", f"models:/{NAME}/1", *data_flags, "--task", "regression"]) == 0
    said = capsys.readouterr().out.strip().splitlines()
    assert said[-2].startswith(f"models:/{NAME}/1: test mae {metrics['test_mae']:.4f}"), said
    # ... and MLflow's regressor evaluation agrees, in the same run
    assert said[-1].startswith("mlflow.models.evaluate: mean_absolute_error "), said
    (scored,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="attributes.run_name LIKE 'evaluate-%'",
    )
    mae = scored.data.metrics["mean_absolute_error"]
    assert mae == pytest.approx(metrics["test_mae"], rel=1e-4)


def test_a_regression_sweep_minimises_and_promotes_on_test_mae(diabetes_csv: Path) -> None:
    base = _config(diabetes_csv, hidden_units="16", registered_model_name=NAME)
    space = {
        "epochs_min": 3,
        "epochs_max": 6,
        "learning_rate_min": 1e-3,
        "learning_rate_max": 3e-2,
        "cv_folds": "0",
    }  # one split: the promotion of the best trial itself
    first = run_sweep(
        base,
        SweepConfig(n_trials=3, study_name="diabetes-1", pruner="none", **space),
        show_progress_bar=False,
        tracker=Tracker(),
    )
    study = optuna.load_study(study_name="diabetes-1", storage="sqlite:///optuna.db")
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    assert study.metric_names == ["val_loss"]
    best = study.best_trial
    assert best.value == min(t.value for t in study.trials if t.value is not None)
    assert {"test_mae", "test_rmse", "test_r2"} <= set(best.user_attrs)

    client = MlflowClient()
    champion = client.get_model_version_by_alias(NAME, "champion")
    assert champion.run_id == best.user_attrs["mlflow_run_id"]
    assert first.promotion is not None and first.promotion.metric == "test_mae"
    parent = client.get_run(first.parent_run_id)
    assert parent.data.tags["promotion.decision"] == "promoted"
    assert "test mae" in parent.data.tags["promotion.reason"]
    mae = score_model_uri(f"models:/{NAME}@champion", load_dataset(base)).metrics["test_mae"]
    assert parent.data.metrics["promotion.challenger_test_mae"] == pytest.approx(mae, rel=1e-6)

    # a second study: the alias moves only to a LOWER test MAE than the champion's
    second = run_sweep(
        base,
        SweepConfig(n_trials=2, study_name="diabetes-2", pruner="none", sampler_seed=5, **space),
        show_progress_bar=False,
        tracker=Tracker(),
    )
    assert second.promotion is not None
    challenger = second.promotion.challenger_value
    assert second.promotion.champion_value == pytest.approx(mae, rel=1e-6)
    # Promoted only with a lower test MAE (and beyond noise: a lower one within noise is a tie).
    promoted = second.promotion.promoted
    assert not promoted or challenger < mae
    assert promoted or challenger >= mae or "within noise" in second.promotion.reason
    holder = client.get_model_version_by_alias(NAME, "champion").version
    assert holder == (second.promotion.version if promoted else champion.version)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_served_regression_model_answers_in_the_labels_units(
    tmp_path: Path, tracking_store: str, diabetes_csv: Path
) -> None:
    browser.run_pipeline(
        "pipelines.train",
        *("--dataset", "csv", "--data-path", str(diabetes_csv), "--label-column", LABEL),
        *("--task", "regression", "--hidden-units", "32", "--epochs", "5"),
        cwd=tmp_path,
        tracking_uri=tracking_store,
    )
    uri = f"models:/{NAME}/1"
    rows = pd.read_csv(diabetes_csv).head(12)
    expected = np.asarray(mlflow.pyfunc.load_model(uri).predict(rows)).ravel()

    def command(port: int) -> list[str]:
        return [
            *(str(browser.BIN / "mlflow"), "models", "serve", "-m", uri),
            *("--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)),
        ]

    env = browser.project_env(tracking_store)
    with browser.serve("models-serve", command, health="/ping", cwd=tmp_path, env=env) as server:
        split = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
        status, body = browser.http_json(f"{server.url}/invocations", {"dataframe_split": split})
        assert status == 200, body
        assert isinstance(body, dict)
        served = np.asarray(body["predictions"], dtype=np.float64).ravel()
        np.testing.assert_allclose(served, expected, rtol=1e-5)
        assert 0 < served.min() and served.max() < 500  # progression scores, not 0..1 values
