from __future__ import annotations

import numpy as np

from tracking import plots
from tracking.artifacts import history_frame

HISTORY = {
    "loss": [1.0, 0.5, 0.3, 0.2],
    "val_loss": [0.9, 0.6, 0.65, 0.7],
    "accuracy": [0.5, 0.7, 0.8, 0.9],
    "val_accuracy": [0.55, 0.72, 0.7, 0.69],
}


def test_learning_curve_info_marks_best_epoch_one_based() -> None:
    info = plots.learning_curve_info(
        HISTORY, "loss", monitor="val_loss", best_step=1, stop_reason="early_stopping"
    )
    assert info == plots.CurveInfo(
        metric="loss",
        epochs=[1, 2, 3, 4],
        train=[1.0, 0.5, 0.3, 0.2],
        val=[0.9, 0.6, 0.65, 0.7],
        best_epoch=2,
        best_label="best val_loss 0.6000 at epoch 2",
        stop_reason="early_stopping",
    )


def test_learning_curve_info_without_validation_or_best() -> None:
    info = plots.learning_curve_info(
        {"loss": [float("nan")]}, "loss", monitor="loss", best_step=None, stop_reason="diverged"
    )
    assert info.val is None and info.best_epoch is None and info.best_label == ""
    fig = plots.plot_learning_curve(info)  # NaN values draw as gaps, not an exception
    assert fig.axes[0].get_title() == "loss: train vs validation (stopped: diverged)"


def test_learning_curve_plot_draws_both_series_and_best_line() -> None:
    info = plots.learning_curve_info(
        HISTORY, "accuracy", monitor="val_loss", best_step=1, stop_reason="completed"
    )
    ax = plots.plot_learning_curve(info).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train accuracy", "validation accuracy", "best val_loss 0.6000 at epoch 2"]
    assert list(ax.get_lines()[1].get_ydata()) == HISTORY["val_accuracy"]


def test_confusion_info_counts_rows_as_true_classes() -> None:
    info = plots.confusion_info(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), ["a", "b", "c"])
    assert info.matrix == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert info.accuracy == 0.5
    assert plots.plot_confusion(info).axes[0].get_title().endswith("(accuracy 0.5000)")


def test_history_frame_has_step_and_epoch_columns() -> None:
    frame = history_frame(HISTORY)
    assert list(frame["step"]) == [0, 1, 2, 3] and list(frame["epoch"]) == [1, 2, 3, 4]
    assert list(frame["val_loss"]) == HISTORY["val_loss"]
