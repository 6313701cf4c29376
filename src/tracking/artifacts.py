"""What a training run writes to MLflow besides metrics: params, inputs, plots, tables, model."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag

from tracking import plots
from tracking.data import Dataset

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


def param_text(value: Any) -> str:
    """Params as MLproject spells them: booleans lower-case, like ``-P batch_norm=true``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    """Log params, skipping those already on the run.

    ``mlflow run`` logs the entry point's parameters itself (empty strings as ``''``); MLflow
    refuses to change a param, so ours would fail for the same value written differently.
    """
    existing = MlflowClient().get_run(run_id).data.params
    new = {k: param_text(v) for k, v in params.items() if k not in existing}
    mlflow.log_params(new, run_id=run_id, synchronous=True)


def log_dataset_inputs(run_id: str, dataset: Dataset) -> None:
    """The three splits as MLflow dataset inputs (context training / validation / testing)."""
    splits = [
        ("train", "training", dataset.x_train, dataset.y_train),
        ("validation", "validation", dataset.x_val, dataset.y_val),
        ("test", "testing", dataset.x_test, dataset.y_test),
    ]
    inputs = []
    for split, context, x, y in splits:
        if len(x) == 0:
            continue
        ds = from_numpy(x, targets=y, name=f"{dataset.name}-{split}")
        tags = [InputTag("mlflow.data.context", context)]
        inputs.append(DatasetInput(dataset=ds._to_mlflow_entity(), tags=tags))
    MlflowClient().log_inputs(run_id, datasets=inputs)


def history_frame(history: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per epoch: step (0-based, as in MLflow), epoch (1-based), then Keras's keys."""
    n = max((len(v) for v in history.values()), default=0)
    frame = pd.DataFrame({k: list(v) + [np.nan] * (n - len(v)) for k, v in history.items()})
    frame.insert(0, "epoch", range(1, n + 1))
    frame.insert(0, "step", range(n))
    return frame


def log_curves(
    run_id: str,
    history: Mapping[str, Sequence[float]],
    *,
    monitor: str,
    best_step: int | None,
    stop_reason: str,
) -> None:
    """Learning-curve PNGs (loss, accuracy) and the history table."""
    if not history:
        return
    for metric in ("loss", "accuracy"):
        if metric not in history:
            continue
        info = plots.learning_curve_info(
            history, metric, monitor=monitor, best_step=best_step, stop_reason=stop_reason
        )
        fig = plots.plot_learning_curve(info)
        MlflowClient().log_figure(run_id, fig, f"plots/{metric}_curve.png")
        plt.close(fig)
    MlflowClient().log_text(run_id, history_frame(history).to_csv(index=False), "history.csv")


def log_confusion(
    run_id: str, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> None:
    info = plots.confusion_info(y_true, y_pred, names)
    fig = plots.plot_confusion(info)
    MlflowClient().log_figure(run_id, fig, "plots/confusion_matrix.png")
    plt.close(fig)
    MlflowClient().log_dict(run_id, info._asdict(), "confusion_matrix.json")


def pip_requirements() -> list[str]:
    """Explicit pins: saves ~12 s of requirement inference per log_model (DESIGN fact 4)."""
    from importlib.metadata import version

    return [
        f"tensorflow-cpu=={version('tensorflow-cpu')}",
        f"keras=={version('keras')}",
        f"mlflow=={version('mlflow')}",
        f"numpy=={version('numpy')}",
    ]


def log_model(model: keras.Model, x_example: np.ndarray) -> str:
    """The best-weight model with signature and input example; returns its model URI.

    ``mlflow.tensorflow.log_model`` rather than ``mlflow.keras`` (mlflow#16183). Logs into the
    thread's active run, which ``runs.open_run`` set to ours.
    """
    from mlflow.models import infer_signature

    example = x_example[:5]
    signature = infer_signature(example, model.predict(example, verbose=0))
    info = mlflow.tensorflow.log_model(
        model,
        name="model",
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
    )
    return str(info.model_uri)
