"""What a regression model got right and wrong on the test split, in place of a confusion matrix.

Like ``tracking.report.curves``: a pure "info" builder (plain data, tested by equality), then
renderers that only draw it: predicted against actual (the diagonal is a perfect model) and a
histogram of the residuals (predicted - actual; centred on 0 for an unbiased model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from tracking.report.curves import new_figure


class PredictionInfo(NamedTuple):
    label: str  # the label column: the units of both axes
    actual: list[float]
    predicted: list[float]
    mae: float
    rmse: float
    r2: float
    mean_residual: float  # predicted - actual, averaged: the model's bias


def prediction_info(
    y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray, label: str
) -> PredictionInfo:
    actual = np.asarray(y_true, dtype=np.float64).ravel()
    predicted = np.asarray(y_pred, dtype=np.float64).ravel()
    residual = predicted - actual
    total = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan")
    return PredictionInfo(
        label,
        actual.tolist(),
        predicted.tolist(),
        float(np.mean(np.abs(residual))),
        float(np.sqrt(np.mean(residual**2))),
        r2,
        float(np.mean(residual)),
    )


def plot_predicted_vs_actual(info: PredictionInfo, title: str = "test split") -> Figure:
    fig, ax = new_figure((5.5, 5))
    ax.scatter(info.actual, info.predicted, s=14, alpha=0.5, color="tab:blue", label="test rows")
    low = min(min(info.actual), min(info.predicted))
    high = max(max(info.actual), max(info.predicted))
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="predicted = actual")
    ax.set_xlabel(f"actual {info.label}")
    ax.set_ylabel(f"predicted {info.label}")
    ax.set_title(
        f"Predicted against actual, {title}\n"
        f"MAE {info.mae:.4g}, RMSE {info.rmse:.4g}, R² {info.r2:.3f}",
        fontsize=10,
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_residuals(info: PredictionInfo, title: str = "test split") -> Figure:
    residual = np.asarray(info.predicted) - np.asarray(info.actual)
    fig, ax = new_figure((6, 4))
    ax.hist(residual, bins=min(40, max(10, len(residual) // 10)), color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", linewidth=1, label="0: exact")
    ax.axvline(
        info.mean_residual,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label=f"mean {info.mean_residual:+.4g} (bias)",
    )
    ax.set_xlabel(f"residual: predicted - actual {info.label}")
    ax.set_ylabel("test rows")
    ax.set_title(f"Residuals, {title} (MAE {info.mae:.4g})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
