"""Train once: `python -m pipelines.train --flag value ...` (or `mlflow run .`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines import _cli
from tracking.config import TrainConfig, validate
from tracking.data_check import check_source
from tracking.errors import ConfigError


def parse(argv: Sequence[str] | None) -> TrainConfig:
    (config,) = _cli.parse(argv, "python -m pipelines.train", __doc__, TrainConfig)
    return config  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:  # every check that needs nothing heavy, before any run exists
        config = parse(argv)
        validate(config)
        check_source(config)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:  # argparse: --help, or a flag it could not parse (already said)
        return int(done.code or 0)

    from tracking.tracker import Terminated, Tracker
    from tracking.training import default_run_name, train

    _cli.raise_on_sigterm()
    tracker = Tracker()
    run_id = tracker.start_run(default_run_name(config))
    try:
        with tracker.ending(run_id):
            result = train(config, tracker=tracker, run_id=run_id)
    except (KeyboardInterrupt, Terminated):
        print("interrupted: the run ended KILLED with the epochs finished so far", file=sys.stderr)
        return 130
    accuracy = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    print(f"run {result.run_id}: {result.stop_reason}, test accuracy {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
