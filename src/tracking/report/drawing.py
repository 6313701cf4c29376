"""The figures of a run drawn in a second process, where the machine has a core for it.

After ``fit`` the learning curves and the test split's plots are drawn while TensorFlow scores
the test split and saves the model (``tracking.run.finishing``). matplotlib holds the GIL while it
renders, so a thread only interleaves with TensorFlow's Python; a process draws beside it. The
process is started when a training starts (``warm``), so its imports (matplotlib, scikit-learn)
cost nothing after ``fit``, and it stays for the life of this process: every trial of a sweep
worker uses the same one. It receives the figures' pure descriptions (``CurveInfo``,
``ChartInfo``, ``ConfusionInfo``, ``PredictionInfo``), writes the PNGs into a folder and says when
it is done; the caller logs the folder. On one core, or when the process cannot be started or
dies, ``None`` / an exception tells the caller to draw in its own process, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)
# (what to draw with, the description, where the PNG goes relative to the folder)
Job = tuple[str, Any, str]


def render(kind: str, info: Any) -> Any:
    """The matplotlib Figure of one description (also what the caller draws in its process)."""
    from tracking.report import charts, curves, regression

    painters: dict[str, Callable[[Any], Any]] = {
        "curve": curves.plot_learning_curve,
        "chart": charts.plot_chart,
        "confusion": curves.plot_confusion,
        "predicted_vs_actual": regression.plot_predicted_vs_actual,
        "residuals": regression.plot_residuals,
    }
    return painters[kind](info)


def draw_into(folder: Path, jobs: Sequence[Job]) -> None:
    """Every job's PNG under ``folder`` (as ``MlflowClient.log_figure`` saves a figure)."""
    for kind, info, path in jobs:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        render(kind, info).savefig(target)


class Drawer:
    """One drawing process, fed through its stdin and answering on its stdout (pickles)."""

    def __init__(self) -> None:
        # this process's import path: a package found through sys.path changes is found there
        path = os.pathsep.join(p for p in sys.path if p)
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": path}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tracking.report.drawing"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._lock = threading.Lock()
        self._waiting: list[Future[None]] = []  # answered in the order asked
        threading.Thread(target=self._answers, name="drawing", daemon=True).start()

    def submit(self, folder: Path, jobs: Sequence[Job]) -> Future[None]:
        """The PNGs of ``jobs`` drawn into ``folder``; the future fails if they were not."""
        future: Future[None] = Future()
        with self._lock:
            if self._process.poll() is not None:
                raise RuntimeError(f"the drawing process ended ({self._process.returncode})")
            self._waiting.append(future)
            stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
            pickle.dump((str(folder), list(jobs)), stdin)
            stdin.flush()
        return future

    def _answers(self) -> None:
        stdout: IO[bytes] = self._process.stdout  # type: ignore[assignment]
        while True:
            try:
                error = pickle.load(stdout)
            except (EOFError, pickle.UnpicklingError, OSError):
                error = "the drawing process ended"
                with self._lock:
                    waiting, self._waiting = self._waiting, []
                for future in waiting:
                    future.set_exception(RuntimeError(error))
                return
            with self._lock:
                future = self._waiting.pop(0)
            if error:
                future.set_exception(RuntimeError(error))
            else:
                future.set_result(None)

    def close(self) -> None:
        """End the process (it ends when its stdin closes) and wait for it."""
        if self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()


_shared: Drawer | None = None


def has_spare_core() -> bool:
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else False


def warm() -> Drawer | None:
    """This process's drawing process, started on first use; None on one core or when it
    cannot start (the caller draws itself)."""
    global _shared
    if _shared is not None and _shared._process.poll() is None:
        return _shared
    if not has_spare_core():
        return None
    try:
        _shared = Drawer()
    except OSError as error:
        log.warning("figures drawn in this process: %s", error)
        return None
    atexit.register(_shared.close)
    return _shared


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The drawing process: draw each request, answer "" or the error, until stdin closes
    (its parent ended, however: Ctrl-C is the parent's to handle, not a traceback here)."""
    import signal

    import matplotlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    matplotlib.use("Agg")
    from tracking.report import charts, curves, regression  # noqa: F401  imported before work

    while True:
        try:
            folder, jobs = pickle.load(stdin)
        except EOFError:
            return
        try:
            draw_into(Path(folder), jobs)
            answer = ""
        except Exception as error:  # said to the caller, which draws them itself
            answer = f"{type(error).__name__}: {error}"
        pickle.dump(answer, stdout)
        stdout.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
