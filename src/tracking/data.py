"""Datasets as flat float32 features and int64 labels, split the same way for every run.

Order of operations, all seeded by ``config.seed`` (same config -> identical arrays):
1. the test split: MNIST's official 10 000, or a stratified 20 % of digits / the CSV. It never
   depends on ``max_train_samples`` or ``validation_split``;
2. ``max_train_samples`` caps the remaining training pool (a random subset);
3. ``validation_split`` of that pool becomes the validation set (stratified when possible);
4. CSV features are min-max scaled with the minimum and maximum of the training rows only.

``tracking.data_check.check_source`` runs before anything heavy is imported and refuses a bad
CSV in a second; this module loads what it accepted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tracking import _mnist_offline
from tracking.config import TrainConfig
from tracking.data_check import check_csv, n_test, pool_sizes
from tracking.errors import ConfigError

logger = logging.getLogger(__name__)


class Dataset(NamedTuple):
    """One dataset, split and scaled: x float32 (n, n_features), y int64 in 0..n_classes-1."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def splits(self) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(split, MLflow dataset context, x, y) for train, validation and test."""
        return [
            ("train", "training", self.x_train, self.y_train),
            ("validation", "validation", self.x_val, self.y_val),
            ("test", "testing", self.x_test, self.y_test),
        ]

    def facts(self) -> dict[str, int]:
        return {
            "n_train": len(self.y_train),
            "n_val": len(self.y_val),
            "n_test": len(self.y_test),
            "n_classes": self.n_classes,
            "n_features": self.n_features,
        }


def load_dataset(config: TrainConfig, *, cache_dir: Path | None = None) -> Dataset:
    """Load, split and scale ``config.dataset``; MNIST is cached in ``cache_dir``."""
    if config.dataset == "mnist":
        mnist, source = _mnist_offline.load_mnist(cache_dir or _default_cache_dir())
        pool = (mnist.x_train.astype(np.float32) / 255, mnist.y_train)
        test = (mnist.x_test.astype(np.float32) / 255, mnist.y_test)
        return _finish("mnist", source, pool, test, tuple(map(str, range(10))), config, False)
    if config.dataset == "digits":
        digits = load_digits()
        x, y = digits.data.astype(np.float32) / 16, digits.target.astype(np.int64)
        names, source, scale = tuple(map(str, range(10))), "sklearn.datasets.load_digits", False
    elif config.dataset == "csv":
        frame = _read_csv(config)
        y, names = _encode_labels(frame[config.label_column])
        x = frame.drop(columns=config.label_column).to_numpy(dtype=np.float32)
        source, scale = str(Path(config.data_path).expanduser().resolve()), True
    else:
        raise ConfigError("dataset", config.dataset, "is not supported", "use mnist, digits or csv")
    keep, held = _split(y, n_test(len(y)), config.seed)
    pool, test = (x[keep], y[keep]), (x[held], y[held])
    return _finish(config.dataset, source, pool, test, names, config, scale)


def _default_cache_dir() -> Path:
    # Where Keras keeps its datasets (honours KERAS_HOME like Keras does).
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def _finish(
    name: str,
    source: str,
    pool: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    class_names: tuple[str, ...],
    config: TrainConfig,
    minmax: bool,
) -> Dataset:
    """Cap the training pool, take the validation split, scale by the training rows."""
    x, y = pool
    n_keep, n_val = pool_sizes(config, len(y))
    if n_keep < len(y):
        kept, _ = _split(y, len(y) - n_keep, config.seed)
        x, y = x[kept], y[kept]
    train, val = _split(y, n_val, config.seed)
    parts = [x[train], x[val], test[0]]
    if minmax:
        low, high = parts[0].min(axis=0), parts[0].max(axis=0)
        span = np.where(high > low, high - low, 1.0).astype(np.float32)  # constant column -> 0
        parts = [(p - low) / span for p in parts]
    x_train, x_val, x_test = (np.ascontiguousarray(p, dtype=np.float32) for p in parts)
    y_train, y_val, y_test = (np.asarray(v, dtype=np.int64) for v in (y[train], y[val], test[1]))
    return Dataset(name, source, x_train, y_train, x_val, y_val, x_test, y_test, class_names)


def _split(y: np.ndarray, n_held: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out) with ``n_held`` held out, stratified when every class allows."""
    index = np.arange(len(y))
    if n_held == 0:
        return index, index[:0]
    try:
        kept, held = train_test_split(index, test_size=n_held, random_state=seed, stratify=y)
    except ValueError:  # a class with one row, or fewer held-out rows than classes
        kept, held = train_test_split(index, test_size=n_held, random_state=seed)
    return kept, held


def _encode_labels(labels: pd.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 0..k-1 by sorted unique value; names keep the original values ("3".."8")."""
    numeric = pd.api.types.is_numeric_dtype(labels)
    values, codes = np.unique(
        labels.to_numpy() if numeric else labels.astype(str), return_inverse=True
    )
    names = tuple(str(int(v)) if numeric and float(v).is_integer() else str(v) for v in values)
    return codes.astype(np.int64), names


def _read_csv(config: TrainConfig) -> pd.DataFrame:
    """The CSV as a DataFrame, once ``check_csv`` has accepted it (same separator rule)."""
    facts = check_csv(config)
    return pd.read_csv(Path(config.data_path).expanduser(), sep=facts.separator)
