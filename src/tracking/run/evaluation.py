"""A model URI scored on a test split: ours (``tracking.run.scoring``) and MLflow's own evaluation.

``mlflow.models.evaluate`` (``model_type`` classifier or regressor) logs MLflow's standard
metrics (``accuracy_score``, ``f1_score``, ``example_count``...; ``mean_absolute_error``,
``r2_score``...) and plots (confusion matrix, per-class metrics) into the run; ours add
``test_loss`` from the probabilities, which MLflow's evaluator cannot ask a pyfunc model for.
MLflow's evaluator itself runs behind the door (``Tracker.log_evaluation``); this module only
prepares its rows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tracking.data.datasets import Dataset
from tracking.door.records import LoadedModel
from tracking.door.tracker import Tracker
from tracking.preflight.inputs import class_values

log = logging.getLogger(__name__)


def evaluation_data(dataset: Dataset, label: str) -> tuple[Any, Any]:
    """``(data, targets)`` for ``mlflow.models.evaluate``: the test rows as the model takes them
    (images as flat rows) and the labels as the training data held them (``targets`` names the
    label column of a CSV model's DataFrame)."""
    x = dataset.model_input(dataset.x_test)
    y = dataset.y_test
    if not dataset.regression:
        y = np.asarray(class_values(dataset.class_names))[y]
    if not isinstance(x, pd.DataFrame):
        # MLflow's evaluator takes 2-D arrays only: an image model gets its images as flat
        # rows of pixels, which it takes too (tracking.model.keras_rows)
        return x.reshape(len(x), -1), y
    name = label if label not in x.columns else f"{label}_target"
    return x.assign(**{name: y}), name


def log_mlflow_evaluation(
    tracker: Tracker, run_id: str, model: LoadedModel, dataset: Dataset, *, label: str
) -> dict[str, float]:
    """Run ``mlflow.models.evaluate`` into ``run_id``; its metrics (empty for a version logged
    before the model returned labels: MLflow's evaluator cannot read probabilities)."""
    if "input" not in model.metadata:
        log.warning(
            "this model version returns probabilities (logged before labels were the default): "
            "MLflow's evaluation skipped, test metrics logged"
        )
        return {}
    data, targets = evaluation_data(dataset, label)
    return tracker.log_evaluation(run_id, model, data, targets, regression=dataset.regression)
