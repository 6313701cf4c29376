"""The README's Python for your own model, run as written in a real Jupyter kernel (nbclient).

Its two blocks under "Your own model and data" become the cells of a notebook: a CNN fitted with
``tracking.track``, then an Optuna study of it with ``tracking.track_study``. The runs they leave
must hold what ``main`` and ``sweep`` log (the contract in docs/logging.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import nbformat
import numpy as np
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient
from sklearn.datasets import load_digits

from tests.conftest import REPO
from tracking.config import tags as T

PER_EPOCH = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
SUMMARY = ("best_epoch", "best_val_loss", "epochs_trained", "test_loss", "test_accuracy")
DIAGNOSIS = ("recommended_epochs", "generalization_gap_loss")
PLOTS = ("loss_curve.png", "accuracy_curve.png", "all_metrics.png", "twin_axes.png")


def readme_blocks() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Your own model and data") : readme.index("## Sweep")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.timeout(300)
def test_the_readme_python_runs_in_a_kernel_and_logs_what_main_logs(tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert len(blocks) == 2, "the README shows tracking.track and tracking.track_study"
    # then one cell of ours: what the study in the kernel holds
    cells = [*blocks, "import json\nprint(json.dumps({t.number: sorted(t.intermediate_values) "
             "for t in study.trials}))"]  # fmt: skip
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    # the kernel inherits this test's MLFLOW_TRACKING_URI and works in tmp_path
    client = NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    printed = [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in notebook.cells
    ]
    assert re.search(r"digits-cnn/1 \{'test_accuracy': 0\.\d+", printed[0]), printed[0][-500:]
    assert "challenger test accuracy" in printed[1], printed[1][-500:]
    reported = {int(k): v for k, v in json.loads(printed[2]).items()}  # Optuna's steps

    mlflow_client = MlflowClient()
    runs = mlflow_client.search_runs(["0"], order_by=["attributes.start_time ASC"])
    fitted = runs[0]
    assert fitted.info.status == "FINISHED" and fitted.info.run_name.startswith("digits-cnn-")
    run_id, tags, metrics = fitted.info.run_id, fitted.data.tags, fitted.data.metrics
    # every epoch on Keras's step convention, as main logs them
    history = {k: mlflow_client.get_metric_history(run_id, k) for k in PER_EPOCH}
    trained = int(metrics["epochs_trained"])
    assert trained >= 2
    for key, points in history.items():
        assert [p.step for p in points] == list(range(trained)), key
    assert set(SUMMARY + DIAGNOSIS) <= set(metrics) and metrics["test_accuracy"] > 0.8
    assert tags["stop_reason"] in ("completed", "early_stopping")
    assert tags["diagnosis"] in ("still_improving", "converged", "overfitting", "underfitting")
    assert tags["mlflow.note.content"].startswith(("Validation loss", "Training"))
    assert fitted.data.params["model"] == "cnn" and fitted.data.params["n_train"] == "1347"
    artifacts = {a.path for a in mlflow_client.list_artifacts(run_id)}
    plots = {a.path for a in mlflow_client.list_artifacts(run_id, "plots")}
    assert {"history.csv", "model_summary.txt", "confusion_matrix.json"} <= artifacts
    assert {f"plots/{p}" for p in (*PLOTS, "confusion_matrix.png")} <= plots
    contexts = {
        tag.value
        for dataset_input in fitted.inputs.dataset_inputs
        for tag in dataset_input.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"training", "testing"}
    # the whole predictor, registered with its card
    version = mlflow_client.get_model_version("digits-cnn", "1")
    assert version.run_id == run_id and tags["registered_model_version"] == "digits-cnn/1"
    card = version.description
    assert "**digits-cnn version 1**" in card and f"**Diagnosis**: {tags['diagnosis']}" in card
    assert "built by `cnn`" in card and "conv2d (Conv2D)" in card

    # the study: a parent run, a nested run per trial, the best trial @champion
    parent = next(r for r in runs if r.data.tags.get(T.SWEEP_ROLE) == "parent")
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["optuna.study_name"] == "digits-cnn"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(trials) == 4
    states = [r.data.tags["optuna.state"] for r in trials]
    assert set(states) <= {"COMPLETE", "PRUNED"} and "COMPLETE" in states
    for trial in trials:
        assert trial.info.status == "FINISHED"
        assert trial.data.params["filters"] in ("8", "16", "32")
        steps = [p.step for p in mlflow_client.get_metric_history(trial.info.run_id, "val_loss")]
        # pruning saw every epoch, on the step the metric has
        assert (
            steps
            == reported[int(trial.data.tags["optuna.trial_number"])]
            == list(range(len(steps)))
        )
    champion = mlflow_client.get_model_version_by_alias("digits-cnn", "champion")
    assert champion.run_id == parent.data.tags["best_run_id"]
    assert parent.data.tags["promotion.decision"] == "promoted"
    # it takes raw rows: 0..16 pixels as sklearn has them, in any dtype
    digits = load_digits()
    model = mlflow.pyfunc.load_model("models:/digits-cnn@champion")
    labels = np.asarray(model.predict(digits.data[:200].astype(np.uint8)))
    assert np.mean(labels == digits.target[:200]) > 0.8
