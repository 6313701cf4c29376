from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from tracking.report import charts
from tracking.report import curves as plots
from tracking.report.artifacts import history_frame
from tracking.report.curves import Curves

HISTORY = {
    "loss": [1.0, 0.5, 0.3, 0.2],
    "val_loss": [0.9, 0.6, 0.65, 0.7],
    "accuracy": [0.5, 0.7, 0.8, 0.9],
    "val_accuracy": [0.55, 0.72, 0.7, 0.69],
}


def test_learning_curve_info_marks_best_epoch_one_based() -> None:
    info = plots.learning_curve_info(Curves(HISTORY, "val_loss", 1, "early_stopping"), "loss")
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
        Curves({"loss": [float("nan")]}, "loss", None, "diverged"), "loss"
    )
    assert info.val is None and info.best_epoch is None and info.best_label == ""
    fig = plots.plot_learning_curve(info)  # NaN values draw as gaps, not an exception
    assert fig.axes[0].get_title() == "loss: train vs validation (stopped: diverged)"


def test_learning_curve_plot_draws_both_series_and_best_line() -> None:
    info = plots.learning_curve_info(Curves(HISTORY, "val_loss", 1, "completed"), "accuracy")
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


def test_learning_curve_info_can_shift_training_half_an_epoch_left() -> None:
    info = plots.learning_curve_info(Curves(HISTORY, "val_loss", 1, "early_stopping", True), "loss")
    # Training values are epoch averages: drawn at epoch - 0.5, validation stays on the epoch.
    assert info.train_x == [0.5, 1.5, 2.5, 3.5] and info.epochs == [1, 2, 3, 4]
    fig = plots.plot_learning_curve(info)
    train_line, val_line = fig.axes[0].get_lines()[:2]
    assert list(train_line.get_xdata()) == [0.5, 1.5, 2.5, 3.5]
    assert list(val_line.get_xdata()) == [1, 2, 3, 4]
    assert "half an epoch left" in fig.axes[0].get_xlabel()
    plt.close(fig)


def test_all_metrics_info_lists_each_metric_train_then_validation() -> None:
    history = {**HISTORY, "learning_rate": [1e-3] * 4}
    info = charts.all_metrics_info(Curves(history, "val_loss", 1, "completed"))
    x = [1.0, 2.0, 3.0, 4.0]
    assert info == charts.ChartInfo(
        # A constant learning rate is named in the title, not drawn.
        title="All metrics (stopped: completed), learning rate 0.001 throughout",
        series=[
            charts.Series("loss", "train loss", x, HISTORY["loss"], "left"),
            charts.Series("val_loss", "validation loss", x, HISTORY["val_loss"], "left"),
            charts.Series("accuracy", "train accuracy", x, HISTORY["accuracy"], "left"),
            charts.Series(
                "val_accuracy", "validation accuracy", x, HISTORY["val_accuracy"], "left"
            ),
        ],
        left_label="value",
        right_label=None,
        below_label=None,
        # Every value lies in 0..1: the tutorials' range.
        ylim=(0.0, 1.0),
        best_epoch=2,
        best_label="best val_loss 0.6000 at epoch 2",
        n_epochs=4,
        shifted=False,
    )


def test_all_metrics_info_puts_a_changing_learning_rate_underneath() -> None:
    lr = [1e-3, 1e-3, 5e-4, 5e-4]
    info = charts.all_metrics_info(
        Curves({**HISTORY, "learning_rate": lr}, "val_loss", 1, "completed", True)
    )
    # The learning rate goes to the panel underneath, never shifted: it is no epoch average.
    assert info.series[-1] == charts.Series(
        "learning_rate", "learning rate", [1.0, 2.0, 3.0, 4.0], lr, "below"
    )
    assert info.below_label == "learning rate" and info.title == "All metrics (stopped: completed)"
    # Training series shift half an epoch left, validation series do not.
    assert [s.x[0] for s in info.series[:4]] == [0.5, 1.0, 0.5, 1.0]


def test_all_metrics_info_leaves_a_wider_range_to_matplotlib() -> None:
    history = {**HISTORY, "loss": [2.3, 0.5, 0.3, 0.2]}
    info = charts.all_metrics_info(Curves(history, "loss", 3, "completed"))
    # A loss of 2.3 would be cut off by the 0..1 range.
    assert info.ylim is None and info.best_label == "best loss 0.2000 at epoch 4"


def test_twin_axes_info_puts_loss_left_and_accuracy_right() -> None:
    info = charts.twin_axes_info(Curves(HISTORY, "val_loss", 1, "completed"))
    assert [(s.key, s.place) for s in info.series] == [
        ("loss", "left"),
        ("val_loss", "left"),
        ("accuracy", "right"),
        ("val_accuracy", "right"),
    ]
    assert (info.left_label, info.right_label) == ("loss", "accuracy")
    assert info.title == "loss and accuracy: train vs validation (stopped: completed)"
    assert info.series[3].y == HISTORY["val_accuracy"] and info.best_epoch == 2


def test_twin_axes_info_reads_mae_for_regression_and_nothing_without_a_metric() -> None:
    regression = {"loss": [9.0, 4.0], "val_loss": [10.0, 5.0], "mae": [3.0, 2.0], "mse": [9.0, 4.0]}
    info = charts.twin_axes_info(Curves(regression, "loss", 1, "completed"))
    # MAE on the right; there is no val_mae to draw.
    assert [(s.key, s.place) for s in info.series][2:] == [("mae", "right")]
    assert info.right_label == "mae"
    only_loss = charts.twin_axes_info(Curves({"loss": [1.0]}, "loss", None, "diverged"))
    assert only_loss.right_label is None and [s.key for s in only_loss.series] == ["loss"]
    assert only_loss.title == "loss: train vs validation (stopped: diverged)"


def test_plot_chart_draws_the_learning_rate_panel_and_one_legend() -> None:
    info = charts.all_metrics_info(
        Curves({**HISTORY, "learning_rate": [1e-3, 1e-3, 5e-4, 5e-4]}, "val_loss", 1, "completed")
    )
    fig = charts.plot_chart(info)
    top, below = fig.axes
    # Four metrics and the best-epoch line on top, the learning rate underneath.
    assert len(top.get_lines()) == 5 and len(below.get_lines()) == 1
    assert top.get_ylim() == (0.0, 1.0) and below.get_yscale() == "log"
    # Four metrics, the best epoch, the shaded region, the learning rate.
    assert len(fig.legends[0].get_texts()) == 7
    plt.close(fig)


def test_plot_chart_draws_twin_axes() -> None:
    info = charts.twin_axes_info(Curves(HISTORY, "val_loss", 1, "completed", True))
    fig = charts.plot_chart(info)
    left, right = fig.axes
    assert len(left.get_lines()) == 3 and len(right.get_lines()) == 2  # + the best-epoch line
    assert (left.get_ylabel(), right.get_ylabel()) == ("loss", "accuracy")
    assert list(left.get_lines()[0].get_xdata()) == [0.5, 1.5, 2.5, 3.5]
    plt.close(fig)
