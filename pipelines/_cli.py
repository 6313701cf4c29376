"""What every entry point does first: logging once, quiet TensorFlow, one-line errors."""

from __future__ import annotations

import logging
import os
import sys


def setup() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "mlflow.store", "urllib3", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: object) -> int:
    """One line on stderr, exit status 2, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    return 2
