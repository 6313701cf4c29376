"""What a training run shows besides metrics: learning curves, the history table, the confusion
matrix (classification) or predicted against actual and residuals (regression), the diagnosis.
Each is computed by a pure function (``tracking.report.curves``, ``tracking.report.charts``,
``tracking.report.diagnosis``) and written through the door. The figures of one run are drawn
together (``Figures``): in the drawing process beside the caller's work where there is a core for
it (``tracking.report.drawing``), else in a thread, and logged in one call when asked for."""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tracking.config import tags as T
from tracking.report import curves as plots
from tracking.report import regression as regression_plots
from tracking.report.charts import all_metrics_info, twin_axes_info
from tracking.report.diagnosis import Diagnosis, diagnose, diagnosis_metrics
from tracking.report.drawing import Drawer, Job, draw_into

if TYPE_CHECKING:
    from tracking.config.train import TrainConfig
    from tracking.door.tracker import Tracker

log = logging.getLogger(__name__)
# Figures logged while the caller goes on (``Figures.log_later``): one thread, in order; waited
# for by ``wait_for_figures`` (a sweep, before its summary) and at exit.
_LATER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="figures-later")
_PENDING: list[Future[None]] = []


def wait_for_figures() -> None:
    """Until every figure handed to ``Figures.log_later`` is logged (or failed, said in a
    warning: a figure is never worth a failed sweep)."""
    while _PENDING:
        future = _PENDING.pop(0)
        try:
            future.result()
        except Exception as error:  # noqa: BLE001
            log.warning("figures not logged: %s", error)


atexit.register(wait_for_figures)


class Figures:
    """The PNGs of one run, drawn while the caller goes on (``draw``), logged together
    (``log``): in ``drawer``'s process, or, without one, in a thread of this one. A drawing
    process that fails or dies loses nothing: ``log`` draws what it did not, here."""

    def __init__(self, tracker: Tracker, run_id: str, drawer: Drawer | None) -> None:
        self.tracker, self.run_id, self.drawer = tracker, run_id, drawer
        self.folder = Path(tempfile.mkdtemp(prefix="figures-"))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="figures")
        self._drawn: list[tuple[Future[None], list[Job]]] = []

    def draw(self, jobs: Sequence[Job]) -> None:
        jobs = list(jobs)
        future: Future[None] | None = None
        if self.drawer is not None:
            try:
                future = self.drawer.submit(self.folder, jobs)
            except (RuntimeError, OSError) as error:
                log.warning("figures drawn in this process: %s", error)
        if future is None:
            future = self._thread.submit(draw_into, self.folder, jobs)
        self._drawn.append((future, jobs))

    def log(self) -> None:
        """Wait for every figure (drawing here those the drawing process did not), log them."""
        try:
            for future, jobs in self._drawn:
                try:
                    future.result()
                except RuntimeError as error:  # the drawing process's own failure
                    log.warning("figures drawn in this process: %s", error)
                    draw_into(self.folder, jobs)
            if any(self.folder.iterdir()):
                self.tracker.log_folder(self.run_id, str(self.folder))
        finally:
            self.close()

    def log_later(self) -> None:
        """``log`` in a background thread: a pruned trial's curves are drawn and logged while
        the next trial starts (``wait_for_figures`` waits for them)."""
        _PENDING.append(_LATER.submit(self.log))

    def close(self) -> None:
        self._thread.shutdown()
        shutil.rmtree(self.folder, ignore_errors=True)


def history_frame(history: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """One row per epoch: step (0-based, as in MLflow), epoch (1-based), then Keras's keys."""
    n = max((len(v) for v in history.values()), default=0)
    frame = pd.DataFrame({k: list(v) + [np.nan] * (n - len(v)) for k, v in history.items()})
    frame.insert(0, "epoch", range(1, n + 1))
    frame.insert(0, "step", range(n))
    return frame


def curve_jobs(curves: plots.Curves) -> list[Job]:
    """The learning-curve PNGs: loss, accuracy or MAE, all metrics on one chart, loss and
    accuracy or MAE on twin axes."""
    history = curves.history
    jobs: list[Job] = [
        ("curve", plots.learning_curve_info(curves, metric), f"plots/{metric}_curve.png")
        for metric in ("loss", "accuracy", "mae")
        if metric in history
    ]
    if "loss" in history:
        jobs.append(("chart", all_metrics_info(curves), "plots/all_metrics.png"))
        jobs.append(("chart", twin_axes_info(curves), "plots/twin_axes.png"))
    return jobs


def log_curves(figures: Figures, curves: plots.Curves) -> None:
    """The learning-curve PNGs (drawn by ``figures``) and the history table."""
    if not curves.history:
        return
    figures.draw(curve_jobs(curves))
    history_table = history_frame(curves.history)
    figures.tracker.log_table(figures.run_id, history_table, "history.csv")


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
    figures: Figures, y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]
) -> None:
    """The confusion matrix of the test split: its PNG (drawn by ``figures``) and counts."""
    info = plots.confusion_info(y_true, y_pred, names)
    figures.draw([("confusion", info, "plots/confusion_matrix.png")])
    figures.tracker.log_dict(figures.run_id, info._asdict(), "confusion_matrix.json")


def log_regression(figures: Figures, y_true: np.ndarray, y_pred: np.ndarray, label: str) -> None:
    """Predicted against actual, the residual histogram (drawn by ``figures``), and the test
    rows' predictions."""
    info = regression_plots.prediction_info(y_true, y_pred, label)
    figures.draw(
        [
            ("predicted_vs_actual", info, "plots/predicted_vs_actual.png"),
            ("residuals", info, "plots/residuals.png"),
        ]
    )
    rows = pd.DataFrame({"actual": info.actual, "predicted": info.predicted})
    rows["residual"] = rows["predicted"] - rows["actual"]
    figures.tracker.log_table(figures.run_id, rows, "test_predictions.csv")
