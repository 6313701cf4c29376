"""The figures of a run drawn in a second process: the same PNGs as drawn here, and none lost when
that process fails or is killed."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from mlflow import MlflowClient

from tracking.door.tracker import Tracker
from tracking.report import artifacts
from tracking.report import curves as plots
from tracking.report.drawing import Drawer, draw_into

HISTORY = {
    "loss": [1.0, 0.6, 0.5, 0.45],
    "val_loss": [1.1, 0.7, 0.65, 0.7],
    "accuracy": [0.5, 0.7, 0.8, 0.85],
    "val_accuracy": [0.45, 0.65, 0.7, 0.68],
}
CURVE_PNGS = {"loss_curve.png", "accuracy_curve.png", "all_metrics.png", "twin_axes.png"}


def _jobs() -> list[tuple[str, object, str]]:
    curves = plots.Curves(HISTORY, "val_loss", 2, "completed", False)
    y = np.array([0, 1, 2, 2, 1, 0])
    confusion = plots.confusion_info(y, np.array([0, 1, 2, 1, 1, 0]), ["a", "b", "c"])
    return [*artifacts.curve_jobs(curves), ("confusion", confusion, "plots/confusion.png")]


@pytest.fixture
def drawer() -> Iterator[Drawer]:
    drawer = Drawer()
    yield drawer
    drawer.close()


def test_the_drawing_process_draws_what_this_process_draws(drawer: Drawer, tmp_path: Path) -> None:
    jobs = _jobs()
    drawer.submit(tmp_path / "there", jobs).result(timeout=120)
    # matplotlib's default style here too (Optuna's matplotlib plots set ggplot process-wide)
    with matplotlib.style.context("default"):
        draw_into(tmp_path / "here", jobs)
    there = sorted(p.relative_to(tmp_path / "there") for p in (tmp_path / "there").rglob("*.png"))
    here = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*.png"))
    assert [p.name for p in there] == sorted([*CURVE_PNGS, "confusion.png"])
    assert there == here
    for path in there:  # the same matplotlib, the same pixels
        assert (tmp_path / "there" / path).read_bytes() == (tmp_path / "here" / path).read_bytes()


def test_a_figure_that_fails_is_said_and_the_process_draws_on(
    drawer: Drawer, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="KeyError"):
        drawer.submit(tmp_path, [("no such figure", None, "plots/x.png")]).result(timeout=120)
    drawer.submit(tmp_path, _jobs()[:1]).result(timeout=120)
    assert (tmp_path / "plots" / "loss_curve.png").stat().st_size > 1000


def test_a_killed_drawing_process_loses_no_figure(drawer: Drawer) -> None:
    tracker = Tracker()
    run_id = tracker.create_run("drawn")
    figures = artifacts.Figures(tracker, run_id, drawer)
    os.kill(drawer._process.pid, signal.SIGKILL)
    drawer._process.wait(timeout=30)
    figures.draw(_jobs())  # refused at once or failed later: drawn here either way
    figures.log()
    logged = {a.path for a in MlflowClient().list_artifacts(run_id, "plots")}
    assert logged == {f"plots/{name}" for name in (*CURVE_PNGS, "confusion.png")}
    assert not figures.folder.exists()  # nothing left behind


def test_figures_logged_later_are_logged_on_another_thread_and_waited_for(drawer: Drawer) -> None:
    tracker = Tracker()
    run_id = tracker.create_run("drawn later")
    figures = artifacts.Figures(tracker, run_id, drawer)
    logged_by: list[str] = []
    log_folder = tracker.log_folder

    def recording(*args: Any, **kwargs: Any) -> None:  # the real logging, and which thread
        logged_by.append(threading.current_thread().name)
        log_folder(*args, **kwargs)

    tracker.log_folder = recording  # type: ignore[method-assign]
    figures.draw(_jobs())
    figures.log_later()  # what a pruned trial does: the next trial need not wait
    artifacts.wait_for_figures()
    logged = {a.path for a in MlflowClient().list_artifacts(run_id, "plots")}
    assert logged == {f"plots/{name}" for name in (*CURVE_PNGS, "confusion.png")}
    assert logged_by and logged_by[0].startswith("figures-later")
    assert not figures.folder.exists()
