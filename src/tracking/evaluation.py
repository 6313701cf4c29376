"""A model URI scored on a test split: ours (``tracking.scoring``) and MLflow's own evaluation.

``mlflow.models.evaluate`` (``model_type`` classifier or regressor) logs MLflow's standard
metrics (``accuracy_score``, ``f1_score``, ``example_count``...; ``mean_absolute_error``,
``r2_score``...) and plots (confusion matrix, per-class metrics) into the run; ours add
``test_loss`` from the probabilities, which MLflow's evaluator cannot ask a pyfunc model for.
MLflow's evaluator logs into the active run: it is resumed here by id for the call only.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from tracking.data import Dataset
from tracking.logged_model import class_values
from tracking.scoring import Score, score_pyfunc

log = logging.getLogger(__name__)


def load_model(model_uri: str) -> PyFuncModel:
    """``model_uri`` through ``mlflow.pyfunc`` (raises MlflowException or OSError if absent)."""
    return mlflow.pyfunc.load_model(model_uri)


def score(model: PyFuncModel, dataset: Dataset) -> Score:
    return score_pyfunc(model, dataset)


def evaluation_data(dataset: Dataset, label: str) -> tuple[Any, Any]:
    """``(data, targets)`` for ``mlflow.models.evaluate``: the test rows as the model takes them
    and the labels as the training data held them (``targets`` names the label column of a
    CSV model's DataFrame)."""
    x = dataset.model_input(dataset.x_test)
    y = dataset.y_test
    if not dataset.regression:
        y = np.asarray(class_values(dataset.class_names))[y]
    if not isinstance(x, pd.DataFrame):
        return x, y
    name = label if label not in x.columns else f"{label}_target"
    return x.assign(**{name: y}), name


def log_mlflow_evaluation(
    run_id: str, model: PyFuncModel, dataset: Dataset, *, label: str
) -> dict[str, float]:
    """Run ``mlflow.models.evaluate`` into ``run_id``; its metrics (empty for a version logged
    before the model returned labels: MLflow's evaluator cannot read probabilities)."""
    if "input" not in (model.metadata.metadata or {}):
        log.warning(
            "this model version returns probabilities (logged before labels were the default): "
            "MLflow's evaluation skipped, test metrics logged"
        )
        return {}
    data, targets = evaluation_data(dataset, label)
    with mlflow.start_run(run_id=run_id):
        result = mlflow.models.evaluate(
            model,
            data=data,
            targets=targets,
            model_type="regressor" if dataset.regression else "classifier",
            evaluator_config={"log_model_explainability": False},  # SHAP: not installed
        )
    return {k: float(v) for k, v in result.metrics.items()}
