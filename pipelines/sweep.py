"""Optuna study: `python -m pipelines.sweep --n-trials 30 ...` (or `mlflow run . -e sweep`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipelines import _cli, _preflight
from tracking.config.errors import ConfigError, MonitorError
from tracking.config.train import TrainConfig
from tracking.model.devices import gpu_list, worker_gpu_env
from tracking.sweep.config import SweepConfig, in_this_process
from tracking.sweep.dimensions import space_of
from tracking.sweep.validation import validate_sweep

if TYPE_CHECKING:
    from tracking.sweep.study import SweepResult


def parse(argv: Sequence[str] | None) -> tuple[TrainConfig, SweepConfig]:
    """TrainConfig flags (the base of every trial) + SweepConfig flags."""
    base, sweep = _cli.parse(
        argv,
        "python -m pipelines.sweep",
        "Optuna study over a Keras model (-P model), every trial a nested MLflow run.",
        TrainConfig,
        SweepConfig,
    )
    return base, sweep


def progress_bar() -> bool:
    """A progress bar only on a terminal, with the log lines written above it (tqdm's
    ``logging_redirect_tqdm``). Written to a file, a bar's redraws and the log lines would
    share lines: off, for every bar of the sweep and its worker processes (tqdm reads its
    ``TQDM_*`` defaults when it is first imported, which is later)."""
    if sys.stderr.isatty():
        return True
    os.environ.setdefault("TQDM_DISABLE", "1")
    return False


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    bar = progress_bar()
    try:  # every check that needs no TensorFlow, before anything is created
        base, sweep = parse(argv)
        validate_sweep(sweep)
        _preflight.light(base)
        space_of(base, sweep)  # a space file's entries for the sweep's own dimensions
        from tracking.sweep.storage import open_sweep_storage  # Optuna + SQLAlchemy only

        storage = open_sweep_storage(sweep)
        from tracking.door.tracker import Tracker

        _preflight.registry(Tracker(), base)  # the registered model takes this data's inputs
        if in_this_process(sweep) and sweep.gpus:  # as worker 0 would: the first GPU listed
            os.environ.update(worker_gpu_env(0, gpu_list(sweep.gpus)))
        _cli.import_tensorflow()  # without its C++ start-up notices
        dataset = _preflight.model_on_data(base)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:
        return int(done.code or 0)

    import keras
    import optuna
    from tqdm.contrib.logging import logging_redirect_tqdm

    from tracking.config.errors import Terminated, WorkerRefused
    from tracking.sweep.study import run_sweep
    from tracking.sweep.workers import WorkerProcesses

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    keras.utils.disable_interactive_logging()  # no Keras progress bars between trial lines
    _cli.raise_on_sigterm()
    processes = WorkerProcesses.of_module("pipelines.sweep_worker", _cli.import_roots())
    tracker = Tracker()
    try:
        with logging_redirect_tqdm() if bar else contextlib.nullcontext():
            result = run_sweep(base, sweep, tracker=tracker, storage=storage, dataset=dataset,
                               processes=processes, show_progress_bar=bar)  # fmt: skip
    except (ConfigError, MonitorError, WorkerRefused) as error:
        return _cli.fail(error)
    except (KeyboardInterrupt, Terminated):
        print("interrupted: the parent run ended KILLED; rerun to resume", file=sys.stderr)
        return 130
    print(outcome(base, sweep, result, tracker.description(result.parent_run_id)))
    return 0


def outcome(base: TrainConfig, sweep: SweepConfig, result: SweepResult, found: str) -> str:
    """The console's last lines: counts, best value, promotions, why the study stopped, then
    what the sweep found (the parent run's description, ``tracking.sweep.found``)."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in result.counts.items() if n)
    best = (
        "no complete trial"
        if result.best_number is None
        else f"best {base.monitor} {result.best_value:.4f} (trial {result.best_number})"
    )
    lines = [f"study {result.study_name}: {counts}; {best}; parent run {result.parent_run_id}"]
    for label, p in (("best trial", result.promotion), ("refit", result.refit_promotion)):
        if p is not None:
            verdict = "is now @champion" if p.promoted else "did not move @champion"
            lines.append(f"{p.name} version {p.version} ({label}) {verdict}: {p.reason}")
    if result.stop_reason is not None:
        from tracking.sweep.stopping import describe

        lines.append(f"stopped ({result.stop_reason}): {describe(result.stop_reason, sweep)}")
    if found:  # empty while other processes still run trials: the last one summarises
        lines.append(found)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
