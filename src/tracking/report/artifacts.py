"""What a training run shows besides metrics: learning curves, the history table, the confusion
matrix (classification) or predicted against actual and residuals (regression), the diagnosis.
Each is computed by a pure function (``tracking.report.curves``, ``tracking.report.charts``,
``tracking.report.diagnosis``) and written through the door."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tracking.config import tags as T
from tracking.report import curves as plots
from tracking.report import regression as regression_plots
from tracking.report.charts import all_metrics_info, plot_chart, twin_axes_info
from tracking.report.diagnosis import Diagnosis, diagnose, diagnosis_metrics

if TYPE_CHECKING:
    from tracking.config.train import TrainConfig
    from tracking.door.tracker import Tracker


def history_frame(history: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per epoch: step (0-based, as in MLflow), epoch (1-based), then Keras's keys."""
    n = max((len(v) for v in history.values()), default=0)
    frame = pd.DataFrame({k: list(v) + [np.nan] * (n - len(v)) for k, v in history.items()})
    frame.insert(0, "epoch", range(1, n + 1))
    frame.insert(0, "step", range(n))
    return frame


def log_curves(tracker: Tracker, run_id: str, curves: plots.Curves) -> None:
    """Learning-curve PNGs (loss, accuracy or MAE, all metrics on one chart, loss and accuracy
    or MAE on twin axes) and the history table."""
    history = curves.history
    if not history:
        return
    for metric in ("loss", "accuracy", "mae"):
        if metric in history:
            figure = plots.plot_learning_curve(plots.learning_curve_info(curves, metric))
            tracker.log_figure(run_id, figure, f"plots/{metric}_curve.png")
    if "loss" in history:
        for name, build in {"all_metrics": all_metrics_info, "twin_axes": twin_axes_info}.items():
            tracker.log_figure(run_id, plot_chart(build(curves)), f"plots/{name}.png")
    tracker.log_table(run_id, history_frame(history), "history.csv")


def log_diagnosis(
    tracker: Tracker,
    run_id: str,
    history: Mapping[str, Sequence[float]],
    config: TrainConfig,
    stop_reason: str,
) -> Diagnosis:
    """Tag ``diagnosis``, its metrics, and its summary as the run's description."""
    found = diagnose(
        history, monitor=config.monitor, stop_reason=stop_reason, patience=config.patience
    )
    tracker.set_tags(run_id, {T.DIAGNOSIS: found.label})
    tracker.log_metrics(run_id, diagnosis_metrics(found))
    tracker.set_description(run_id, found.summary)
    return found


def log_confusion(
    tracker: Tracker, run_id: str, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> None:
    info = plots.confusion_info(y_true, y_pred, names)
    tracker.log_figure(run_id, plots.plot_confusion(info), "plots/confusion_matrix.png")
    tracker.log_dict(run_id, info._asdict(), "confusion_matrix.json")


def log_regression(
    tracker: Tracker, run_id: str, y_true: np.ndarray, y_pred: np.ndarray, label: str
) -> None:
    """Predicted against actual, the residual histogram, and the test rows' predictions."""
    info = regression_plots.prediction_info(y_true, y_pred, label)
    figure = regression_plots.plot_predicted_vs_actual(info)
    tracker.log_figure(run_id, figure, "plots/predicted_vs_actual.png")
    tracker.log_figure(run_id, regression_plots.plot_residuals(info), "plots/residuals.png")
    rows = pd.DataFrame({"actual": info.actual, "predicted": info.predicted})
    rows["residual"] = rows["predicted"] - rows["actual"]
    tracker.log_table(run_id, rows, "test_predictions.csv")
