"""Score any model URI (run, logged model, registry alias) on a dataset's test split."""

from __future__ import annotations

from typing import NamedTuple

import mlflow.pyfunc
import numpy as np
from sklearn.metrics import log_loss

from tracking.data import Dataset


class Score(NamedTuple):
    test_loss: float  # cross-entropy of the predicted probabilities (no regularisation term)
    test_accuracy: float
    n_test: int


def score_probabilities(probabilities: np.ndarray, y_true: np.ndarray, n_classes: int) -> Score:
    probs = np.asarray(probabilities, dtype=np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 softmax rows sum to 1 +- 1e-7
    accuracy = float(np.mean(probs.argmax(axis=1) == y_true))
    loss = float(log_loss(y_true, probs, labels=list(range(n_classes))))
    return Score(loss, accuracy, len(y_true))


def score_model_uri(model_uri: str, dataset: Dataset) -> Score:
    """Load ``model_uri`` fresh with ``mlflow.pyfunc`` and score it on the test split."""
    model = mlflow.pyfunc.load_model(model_uri)
    probabilities = model.predict(dataset.model_input(dataset.x_test))  # raw rows, as stored
    return score_probabilities(np.asarray(probabilities), dataset.y_test, dataset.n_classes)
