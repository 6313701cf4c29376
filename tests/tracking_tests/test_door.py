"""The MLflow door is closed: only its modules import MLflow, no MLflow type crosses it, and a
Tracker made with its own URI keeps a run, its model and its registry versions in that store."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from matplotlib.figure import Figure
from mlflow import MlflowClient

from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker, quoted
from tracking.model.scaling import Scaling
from tracking.run.evaluation import log_mlflow_evaluation
from tracking.run.scoring import score_model_uri

REPO = Path(__file__).resolve().parents[2]
# The door: tracker.py and its two halves, the model logging and compat.py; keras_rows.py is
# shipped with every model as its own code and loaded by MLflow without the project.
DOOR = {
    "src/tracking/door/tracker.py",
    "src/tracking/door/artifacts.py",
    "src/tracking/door/models.py",
    "src/tracking/door/logged_model.py",
    "src/tracking/compat.py",
    "src/tracking/model/keras_rows.py",
}
IMPORTS_MLFLOW = re.compile(r"^\s*(import mlflow|from mlflow)", re.MULTILINE)
MLFLOW_TYPES = re.compile(
    r"\b(mlflow|Mlflow\w*|Run|RunInfo|RunData|Metric|Param|RunTag|ModelVersion|RegisteredModel|"
    r"PyFuncModel|LoggedModel|Experiment|ModelInfo)\b"
)


def _sources() -> dict[str, str]:
    files = [*(REPO / "src").rglob("*.py"), *(REPO / "pipelines").rglob("*.py")]
    return {str(f.relative_to(REPO)): f.read_text() for f in files}


def test_only_the_door_imports_mlflow() -> None:
    importing = {path for path, text in _sources().items() if IMPORTS_MLFLOW.search(text)}
    assert importing == DOOR


def _annotations(tree: ast.AST, *, public_only: bool) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if public_only and node.name.startswith("_"):
            continue
        args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        hints = [a.annotation for a in args] + [node.returns]
        found += [(node.name, ast.unparse(h)) for h in hints if h is not None]
    return found


def test_no_mlflow_type_in_a_signature_outside_the_door_nor_out_of_it() -> None:
    leaks = []
    for path, text in _sources().items():
        if path == "src/tracking/model/keras_rows.py":  # MLflow's loader API, not the project's
            continue
        door = path in DOOR
        tree = ast.parse(text)
        if door:  # what the door hands out: its classes' public methods
            classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
            hints = [h for c in classes for h in _annotations(c, public_only=True)]
        else:
            hints = _annotations(tree, public_only=False)
        leaks += [(path, name, hint) for name, hint in hints if MLFLOW_TYPES.search(hint)]
    assert leaks == []


def _digits() -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.random((30, 4)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    return Dataset(name="t", source="t", x_train=x[:20], y_train=y[:20], x_val=x[:0],
                   y_val=y[:0], x_test=x[20:], y_test=y[20:], class_names=("0", "1"),
                   scaling=Scaling(np.zeros(4, np.float32), np.ones(4, np.float32)))  # fmt: skip


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _store_contents(uri: str) -> dict[str, object]:
    client = MlflowClient(uri, registry_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    return {
        "runs": sorted(r.info.run_name for r in runs),
        "logged_models": len(client.search_logged_models(experiments)),
        "registered": sorted(m.name for m in client.search_registered_models()),
        "metrics": sorted(k for r in runs for k in r.data.metrics),
    }


def test_two_trackers_keep_one_run_in_one_store(tmp_path: Path, tracking_store: str) -> None:
    """Two trackers, two SQLite stores, MLflow's process-wide URI at a third (the test's)."""
    dataset = _digits()
    name = "o'brien-mlp"  # a quote in the name: every registry search must still find it
    for store in ("a", "b"):
        uri = f"sqlite:///{tmp_path}/{store}.db"
        tracker = Tracker(uri)
        run_id = tracker.create_run(f"run-{store}", tags={"note": "it's"})
        tracker.log_params(run_id, {"units": 4})
        tracker.log_metrics(run_id, {"val_loss": 0.5})
        tracker.log_dataset_inputs(run_id, dataset)
        tracker.log_figure(run_id, Figure(), "plots/empty.png")
        model_uri = tracker.log_model(
            run_id, _model(), dataset.x_test, class_names=dataset.class_names
        )
        assert tracker.model_facts(model_uri)[1]["class_names"] == ["0", "1"]
        version = tracker.register(model_uri, name, run_id=run_id, tags={"store": store})
        tracker.set_alias(name, "champion", version)
        assert (version, tracker.latest_version(name)) == ("1", "1")  # one version per store
        assert tracker.versions_of_run(name, run_id) == ["1"]
        champion = tracker.alias_version(name, "champion")
        assert champion is not None and champion.run_id == run_id
        assert [r.run_id for r in tracker.find_runs({"note": "it's"})] == [run_id]
        score = score_model_uri(f"models:/{name}@champion", dataset, tracker)
        assert score.n_test == 10
        loaded = tracker.load_model(f"models:/{name}/1")
        theirs = log_mlflow_evaluation(tracker, run_id, loaded, dataset, label="")
        assert "accuracy_score" in theirs
        tracker.end_run(run_id, "FINISHED")
        assert tracker.get_run(run_id).status == "FINISHED"
        # MLflow's evaluation was pointed at this store for the call only
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow.get_tracking_uri() == tracking_store

    for store in ("a", "b"):
        contents = _store_contents(f"sqlite:///{tmp_path}/{store}.db")
        assert contents["runs"] == [f"run-{store}"]
        assert contents["logged_models"] == 1 and contents["registered"] == [name]
        assert "accuracy_score" in contents["metrics"]  # MLflow's evaluation, in its run
    assert _store_contents(tracking_store) == {
        "runs": [],
        "logged_models": 0,
        "registered": [],
        "metrics": [],
    }


def test_search_filters_quote_their_values() -> None:
    assert quoted("digits-mlp") == "'digits-mlp'"
    assert quoted("o'brien") == '"o\'brien"'
    with pytest.raises(ValueError, match="both"):
        quoted("""o'brien "x\"""")
