"""Train once: `python -m pipelines.train --flag value ...` (or `mlflow run .`).

`--resume-run-id RUN` continues an interrupted run (KILLED, FAILED, or RUNNING because its
process died) from its last backed-up epoch, in the same run (``tracking.run.resume``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines import _cli
from tracking.config.errors import ConfigError, Terminated
from tracking.config.params import param
from tracking.config.train import TrainConfig, validate
from tracking.preflight.servers import check_tracking_uri
from tracking.preflight.sources import check_source


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
        validate(config)
        check_source(config)
        check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"), config.model_name)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:  # argparse: --help, or a flag it could not parse (already said)
        return int(done.code or 0)

    from tracking.config import tags as T
    from tracking.door.tracker import Tracker
    from tracking.run.registry import check_target
    from tracking.run.resume import resume_backup_dir, resume_config, run_backup_dir

    tracker = Tracker()
    resumed = options.resume_run_id
    try:  # the run to resume, the data and the registry: all known before TensorFlow or a run
        if resumed:
            config = resume_config(tracker, resumed, config)
            check_source(config)  # the run's own data
        check_target(tracker, config)
    except ConfigError as error:
        return _cli.fail(error)

    _cli.import_tensorflow()  # without its C++ start-up notices
    from tracking.data.datasets import load_dataset
    from tracking.model.build import check_model
    from tracking.run.training import default_run_name, train

    try:  # the model function, called once on this data: a failing one leaves no run behind
        dataset = load_dataset(config)
        check_model(config, dataset)
    except ConfigError as error:
        return _cli.fail(error)

    _cli.raise_on_sigterm()
    if resumed:
        run_id = resumed
        backup = resume_backup_dir(tracker, run_id)  # where the killed process backed it up
        tracker.resume_run(
            run_id,
            launcher_name=f"resume-{resumed[:8]}",
            launcher_tags={T.RESUMED_RUN_ID: resumed},
            note=f"Resumed run {resumed}; its epochs are there.",
        )
    else:
        run_id = tracker.start_run(default_run_name(config))
        backup = run_backup_dir(run_id)
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


if __name__ == "__main__":
    sys.exit(main())
