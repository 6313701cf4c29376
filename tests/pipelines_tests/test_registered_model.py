"""What a consumer of the Model Registry sees: a model that takes raw rows and names its classes,
registered under a name that follows the data, described by a model card, and a diagnosed run.

Real Keras on a CSV the test writes (sklearn's wine: named columns, one with a '/', text labels),
real SQLite tracking store, the training command line as a user runs it.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient

from pipelines.sweep import main as sweep_main
from pipelines.train import main
from tests.helpers import all_runs
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.door.tracker import Tracker
from tracking.report.diagnosis import diagnose
from tracking.run import registry

FAST = ["--hidden-units", "16", "--epochs", "4", "--batch-size", "16", "--seed", "3"]
FAST += ["--learning-rate", "0.01"]  # learns within 4 epochs: predictions depend on the rows
LABELS = np.array(["barolo", "grignolino", "barbera"])


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    """A user's CSV: 13 named feature columns, the label as text in column `quality`."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["quality"] = LABELS[frame.pop("target").to_numpy()]
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def _test_rows(path: Path) -> pd.DataFrame:
    """The rows of the file that the run held out for its test split, as the file has them."""
    dataset = load_dataset(TrainConfig(dataset="csv", data_path=str(path), seed=3))
    raw = pd.read_csv(path)
    features = raw[list(dataset.feature_names)].to_numpy(np.float32)  # as the run read them
    where = {tuple(row): i for i, row in enumerate(features)}
    rows = [where[tuple(r)] for r in dataset.x_test]
    return raw.iloc[rows]


def test_registered_csv_model_takes_raw_rows_and_names_its_classes(wine_csv: Path) -> None:
    assert main(["--dataset", "csv", "--data-path", str(wine_csv), *FAST]) == 0
    (run,) = all_runs()
    # registered_model_name=auto: named after the CSV file.
    (version,) = MlflowClient().search_model_versions("name = 'wine-mlp'")
    assert version.run_id == run.info.run_id

    model = mlflow.pyfunc.load_model("models:/wine-mlp/1")
    # The class names travel with the model; its metadata names the CSV's columns.
    metadata = model.metadata.metadata
    assert metadata["class_names"] == metadata["classes"] == ["barbera", "barolo", "grignolino"]
    features = [c for c in pd.read_csv(wine_csv).columns if c != "quality"]
    assert metadata["input"]["columns"] == features

    # Raw held-out rows straight from the file: columns in another order, label still there,
    # the index as selected; a label per row, as the file has them.
    rows = _test_rows(wine_csv)
    shuffled = rows[list(reversed(rows.columns))].set_axis(rows.index + 100)
    predicted = np.asarray(model.predict(shuffled))
    accuracy = float(np.mean(predicted == rows["quality"].to_numpy()))
    # ... score exactly what the run logged on its test split.
    assert accuracy == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)
    # MLflow's own evaluator reads those labels: the file's rows and label column as they are.
    with mlflow.start_run():
        result = mlflow.models.evaluate(
            "models:/wine-mlp/1",
            data=rows,
            targets="quality",
            model_type="classifier",
            evaluator_config={"log_model_explainability": False},
        )
    assert result.metrics["accuracy_score"] == pytest.approx(accuracy)


def test_every_run_is_diagnosed_and_every_version_has_a_model_card(wine_csv: Path) -> None:
    argv = ["--dataset", "csv", "--data-path", str(wine_csv), *FAST, "--shift-train-curves", "1"]
    assert main(argv) == 0
    (run,) = all_runs()
    run_id, tags, metrics = run.info.run_id, run.data.tags, run.data.metrics
    client = MlflowClient()

    # The diagnosis is the pure reading of the curves the run logged, as tag and description.
    history = {
        key: [m.value for m in client.get_metric_history(run_id, key)]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    expected = diagnose(history, monitor="val_loss", stop_reason=tags["stop_reason"], patience=5)
    assert tags["diagnosis"] == expected.label
    assert tags["mlflow.note.content"] == expected.summary
    assert metrics["recommended_epochs"] == expected.recommended_epochs
    assert metrics["generalization_gap_loss"] == pytest.approx(expected.generalization_gap_loss)
    assert "generalization_gap_accuracy" in metrics
    # The curves in the tutorials' forms, training values shifted as asked.
    assert run.data.params["shift_train_curves"] == "true"
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"plots/all_metrics.png", "plots/twin_axes.png", "plots/loss_curve.png"} <= plots

    # The version's model card: data, sizes, parameters, best epoch, diagnosis, test, run.
    version = client.get_model_version("wine-mlp", "1")
    card = version.description
    assert f"csv from {wine_csv.resolve()}; rows:" in card
    assert f"{run.data.params['n_train']} train" in card
    assert "hidden_units 16" in card and "learning_rate 0.01" in card
    assert f"**Best epoch**: {int(metrics['best_epoch']) + 1} of 4" in card
    assert f"**Diagnosis**: {expected.label}." in card
    assert f"accuracy {metrics['test_accuracy']:.4f}" in card
    assert f"**Run**: `{run_id}`" in card
    # The registered model: what it takes and returns, in short.
    summary = client.get_registered_model("wine-mlp").description
    assert "Takes rows with 13 named columns (alcohol, malic_acid" in summary
    assert "any int or float dtype" in summary
    assert "(barbera, barolo, grignolino)" in summary
    # A description someone wrote in the UI is kept when the cards are written again.
    client.update_registered_model("wine-mlp", description="Ours: do not overwrite.")
    registry.describe(Tracker(), version.source, "wine-mlp", "1", run_id)
    assert client.get_registered_model("wine-mlp").description == "Ours: do not overwrite."
    assert client.get_model_version("wine-mlp", "1").description == card


def test_auto_name_follows_the_dataset_and_empty_registers_nothing() -> None:
    assert main(["--dataset", "digits", *FAST]) == 0
    names = [m.name for m in MlflowClient().search_registered_models()]
    assert names == ["digits-mlp"]  # not mnist-mlp
    assert main(["--dataset", "digits", *FAST, "--registered-model-name", ""]) == 0
    assert len(all_runs()) == 2
    assert len(MlflowClient().search_model_versions("name = 'digits-mlp'")) == 1


def test_registering_other_inputs_is_refused_before_training(
    wine_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = ["--registered-model-name", "shared-mlp"]
    assert main(["--dataset", "digits", *FAST, *shared]) == 0
    capsys.readouterr()
    code = main(["--dataset", "csv", "--data-path", str(wine_csv), *FAST, *shared])
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    # One line naming the parameter, what the versions take, what this model takes, the fix.
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(
        "error: registered_model_name='shared-mlp' has version 1 taking rows of 64 raw values "
        "(pixels as stored), any int or float dtype, but this run's model takes rows with 13 "
        "named columns"
    ), err[0]
    assert err[0].endswith('-P registered_model_name=my-data-mlp, or "" to not register')
    # The sweep refuses it the same way, before any study or run.
    assert sweep_main(["--dataset", "csv", "--data-path", str(wine_csv), *shared]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if " INFO " not in line]
    assert len(err) == 1 and err[0].startswith("error: registered_model_name='shared-mlp' has")
    assert optuna.get_all_study_names(storage="sqlite:///optuna.db") == []
    # Nothing was created: no second run, no second version.
    assert len(all_runs()) == 1
    assert len(MlflowClient().search_model_versions("name = 'shared-mlp'")) == 1
