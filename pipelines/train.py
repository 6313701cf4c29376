"""Train once: `python -m pipelines.train --flag value ...` (or `mlflow run .`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines import _cli
from tracking.config import parse_train_args, validate
from tracking.data import check_source
from tracking.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:  # every check that needs no TensorFlow, before any run exists
        config = validate(parse_train_args(argv))
        check_source(config)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:  # argparse: --help, or a flag it could not parse (already said)
        return int(done.code or 0)

    from tracking.runs import Terminated, raise_on_sigterm
    from tracking.training import train

    raise_on_sigterm()
    try:
        result = train(config)
    except (KeyboardInterrupt, Terminated):
        print("interrupted: the run ended KILLED with the epochs finished so far", file=sys.stderr)
        return 130
    accuracy = "n/a" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    print(f"run {result.run_id}: {result.stop_reason}, test accuracy {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
