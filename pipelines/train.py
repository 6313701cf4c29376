"""Train once: `python -m pipelines.train --flag value ...` (or `mlflow run .`).

`--resume-run-id RUN` continues an interrupted run (KILLED, FAILED, or RUNNING because its
process died) from its last backed-up epoch, in the same run (``tracking.run.resume``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import _cli, _preflight
from tracking.config.errors import ConfigError, Terminated
from tracking.config.params import param
from tracking.config.train import TrainConfig
from tracking.preflight.sources import check_source

if TYPE_CHECKING:
    from tracking.door.tracker import Tracker


@dataclass(frozen=True)
class ResumeOptions:
    resume_run_id: str = param("", "continue this interrupted run from its last finished epoch")


def parse_all(argv: Sequence[str] | None) -> tuple[TrainConfig, ResumeOptions]:
    config, options = _cli.parse(
        argv, "python -m pipelines.train", __doc__, TrainConfig, ResumeOptions
    )
    return config, options


def parse(argv: Sequence[str] | None) -> TrainConfig:
    return parse_all(argv)[0]


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:  # every check that needs nothing heavy, before any run exists
        config, options = parse_all(argv)
        _preflight.light(config)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:  # argparse: --help, or a flag it could not parse (already said)
        return int(done.code or 0)

    from tracking.door.tracker import Tracker
    from tracking.run.resume import resume_config

    tracker = Tracker()
    resumed = options.resume_run_id
    try:  # the run to resume, the data, the registry, the model: all known before a run exists
        if resumed:
            config = resume_config(tracker, resumed, config)
            check_source(config)  # the run's own data
        _preflight.registry(tracker, config)
        _cli.import_tensorflow()  # without its C++ start-up notices
        dataset = _preflight.model_on_data(config)
    except ConfigError as error:
        return _cli.fail(error)

    from tracking.run.training import train

    _cli.raise_on_sigterm()
    run_id, backup = open_run(tracker, config, resumed)
    try:
        with tracker.ending(run_id):
            result = train(config, tracker=tracker, run_id=run_id, dataset=dataset, backup=backup)
    except (KeyboardInterrupt, Terminated):
        print(
            f"interrupted: run {run_id} ended KILLED with the epochs finished so far; continue "
            f"it with --resume-run-id {run_id} (mlflow run . -P resume_run_id={run_id})",
            file=sys.stderr,
        )
        return 130
    shown = [
        k for k in ("test_accuracy", "test_mae", "test_rmse", "test_r2") if k in result.test_metrics
    ]
    scores = ", ".join(f"{k.replace('_', ' ')} {result.test_metrics[k]:.4f}" for k in shown)
    print(f"run {result.run_id}: {result.stop_reason}, {scores or 'not scored'}")
    return 0


def open_run(tracker: Tracker, config: TrainConfig, resumed: str) -> tuple[str, Path]:
    """The run this command trains in, and where its epochs are backed up: a new run, or the
    interrupted run ``resumed`` names (and the folder its killed process backed it up in)."""
    from tracking.config import tags as T
    from tracking.run.resume import resume_backup_dir, run_backup_dir
    from tracking.run.training import default_run_name

    if not resumed:
        run_id = tracker.start_run(default_run_name(config))
        return run_id, run_backup_dir(run_id)
    tracker.resume_run(
        resumed,
        launcher_name=f"resume-{resumed[:8]}",
        launcher_tags={T.RESUMED_RUN_ID: resumed},
        note=f"Resumed run {resumed}; its epochs are there.",
    )
    return resumed, resume_backup_dir(tracker, resumed)


if __name__ == "__main__":
    sys.exit(main())
