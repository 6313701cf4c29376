"""Optuna study: `python -m pipelines.sweep --n-trials 30 ...` (or `mlflow run . -e sweep`)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipelines import _cli
from tracking.config.errors import ConfigError, MonitorError
from tracking.config.train import TrainConfig, validate
from tracking.model.devices import gpu_list, worker_gpu_env
from tracking.preflight.servers import check_tracking_uri
from tracking.preflight.sources import check_source
from tracking.sweep.config import SweepConfig, validate_sweep

if TYPE_CHECKING:  # TensorFlow-free at import: the type only
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
        validate(base)
        check_source(base)
        check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"), base.model_name)
        from tracking.sweep.storage import open_sweep_storage  # Optuna + SQLAlchemy only

        storage = open_sweep_storage(sweep)
        from tracking.door.tracker import Tracker
        from tracking.run.registry import check_target  # MLflow, no TensorFlow

        check_target(Tracker(), base)  # the registered model takes this data's inputs
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:
        return int(done.code or 0)

    in_process = sweep.workers == 1 and sweep.trials_per_process == 0  # as run_sweep decides
    if in_process and sweep.gpus:  # as worker 0 would: the first GPU listed
        os.environ.update(worker_gpu_env(0, gpu_list(sweep.gpus)))
    _cli.import_tensorflow()  # without its C++ start-up notices
    import keras
    import optuna

    from tracking.data.datasets import load_dataset
    from tracking.model.build import check_model

    try:  # the model function, called once on this data: a failing one leaves no run behind
        dataset = load_dataset(base)
        check_model(base, dataset)
    except ConfigError as error:
        return _cli.fail(error)

    from tqdm.contrib.logging import logging_redirect_tqdm

    from tracking.config.errors import Terminated, WorkerRefused
    from tracking.sweep.study import run_sweep
    from tracking.sweep.workers import WorkerProcesses

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    keras.utils.disable_interactive_logging()  # no Keras progress bars between trial lines
    _cli.raise_on_sigterm()
    # With workers=1 trials_per_process=0 every trial runs in this process (run_sweep decides).
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
    report(result, base.monitor, tracker.description(result.parent_run_id))
    return 0


def report(result: SweepResult, monitor: str, found: str) -> None:
    """The console's last lines: counts, best value, promotions, then what the sweep found
    (the parent run's description, ``tracking.sweep.found``)."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in result.counts.items() if n)
    best = (
        "no complete trial"
        if result.best_number is None
        else f"best {monitor} {result.best_value:.4f} (trial {result.best_number})"
    )
    print(f"study {result.study_name}: {counts}; {best}; parent run {result.parent_run_id}")
    for label, p in (("best trial", result.promotion), ("refit", result.refit_promotion)):
        if p is not None:
            verdict = "is now @champion" if p.promoted else "did not move @champion"
            print(f"{p.name} version {p.version} ({label}) {verdict}: {p.reason}")
    if found:  # empty while other processes still run trials: the last one summarises
        print(found)


if __name__ == "__main__":
    sys.exit(main())
