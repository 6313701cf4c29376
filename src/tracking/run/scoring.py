"""Score predictions, or any model URI (run, logged model, registry alias), on a test split.

One function per task turns predictions into test metrics; the same functions score a model
right after training and a registered model pulled back from the registry, so the numbers agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from sklearn.metrics import log_loss, mean_absolute_error, mean_squared_error, r2_score

from tracking.data.datasets import Dataset
from tracking.door.records import LoadedModel
from tracking.model.keras_rows import OUTPUT, PROBABILITIES

if TYPE_CHECKING:
    from tracking.door.tracker import Tracker


class Score(NamedTuple):
    """``metrics``: test_loss (cross-entropy, no regularisation term) and test_accuracy, or
    test_mae, test_rmse and test_r2 (in the label's units) for regression."""

    metrics: dict[str, float]
    n_test: int

    def describe(self) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in self.metrics.items())


def score_probabilities(probabilities: np.ndarray, y_true: np.ndarray, n_classes: int) -> Score:
    probs = np.asarray(probabilities, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 +- 1e-7
    accuracy = float(np.mean(probs.argmax(axis=1) == y_true))
    loss = float(log_loss(y_true, probs, labels=list(range(n_classes))))
    return Score({"test_accuracy": accuracy, "test_loss": loss}, len(y_true))


def score_numbers(predictions: np.ndarray, y_true: np.ndarray) -> Score:
    """Regression: mean absolute error, root mean squared error and R² of the predictions."""
    y_pred = np.asarray(predictions, dtype=np.float64).reshape(len(y_true))
    y = np.asarray(y_true, dtype=np.float64)
    metrics = {
        "test_mae": float(mean_absolute_error(y, y_pred)),
        "test_rmse": float(np.sqrt(mean_squared_error(y, y_pred))),
        "test_r2": float(r2_score(y, y_pred)),
    }
    return Score(metrics, len(y))


def score_predictions(predictions: np.ndarray, dataset: Dataset) -> Score:
    """The test metrics of ``predictions`` for ``dataset``'s test rows, by its task."""
    if dataset.regression:
        return score_numbers(predictions, dataset.y_test)
    return score_probabilities(predictions, dataset.y_test, dataset.n_classes)


def score_model_uri(model_uri: str, dataset: Dataset, tracker: Tracker | None = None) -> Score:
    """Load ``model_uri`` fresh from ``tracker``'s stores (default: MLflow's process-wide
    ones) and score it on the test split."""
    if tracker is None:
        from tracking.door.tracker import Tracker

        tracker = Tracker()
    return score_loaded(tracker.load_model(model_uri), dataset)


def score_loaded(model: LoadedModel, dataset: Dataset) -> Score:
    """A loaded model on the test split's raw rows (``predict_test``), scored."""
    return score_predictions(predict_test(model, dataset), dataset)


def predict_test(model: LoadedModel, dataset: Dataset) -> np.ndarray:
    """A loaded model's predictions for the test split's raw rows; a classifier's probabilities
    (the loss needs them) through its ``output`` switch, which versions logged before it lack:
    their ``predict`` returned probabilities."""
    switch = not dataset.regression and model.takes_params
    params = {OUTPUT: PROBABILITIES} if switch else None
    return np.asarray(model.predict(dataset.model_input(dataset.x_test), params=params))
