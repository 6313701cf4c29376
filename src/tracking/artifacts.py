"""What a training run shows besides metrics: learning curves, the history table, the confusion
matrix. Each is computed by a pure function (``tracking.plots``) and written through the door."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tracking import plots

if TYPE_CHECKING:
    from tracking.tracker import Tracker


def history_frame(history: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per epoch: step (0-based, as in MLflow), epoch (1-based), then Keras's keys."""
    n = max((len(v) for v in history.values()), default=0)
    frame = pd.DataFrame({k: list(v) + [np.nan] * (n - len(v)) for k, v in history.items()})
    frame.insert(0, "epoch", range(1, n + 1))
    frame.insert(0, "step", range(n))
    return frame


def log_curves(
    tracker: Tracker,
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
        tracker.log_figure(run_id, plots.plot_learning_curve(info), f"plots/{metric}_curve.png")
    tracker.log_table(run_id, history_frame(history), "history.csv")


def log_confusion(
    tracker: Tracker, run_id: str, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> None:
    info = plots.confusion_info(y_true, y_pred, names)
    tracker.log_figure(run_id, plots.plot_confusion(info), "plots/confusion_matrix.png")
    tracker.log_dict(run_id, info._asdict(), "confusion_matrix.json")
