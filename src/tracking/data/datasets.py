"""Datasets as float32 examples and int64 labels (float32 numbers for regression), split the
same way for every run. An example is a flat row (MNIST's 784 pixels, a CSV's columns), an image
(``input_shape=image``: MNIST as 28x28x1, digits as 8x8x1) or an .npz's examples, any shape.

Order of operations, all seeded by ``config.seed`` (same config -> identical arrays):
1. the test split: MNIST's official 10 000 (an .npz's ``x_test``, ``y_test``), or a stratified
   20 % of digits / the CSV / the .npz (random for regression). It never depends on
   ``max_train_samples`` or ``validation_split``;
2. ``max_train_samples`` caps the remaining training pool (a random subset);
3. ``validation_split`` of that pool becomes the validation set (stratified when possible);
4. the scaling statistics: CSV (and .npz rows) min-max per column of the training rows only;
   pixels by their full range (255 for MNIST, 16 for digits), .npz images by the training
   examples' overall min and max. The features themselves stay raw, as stored: the model scales
   them in its first layer (``tracking.model.build``), so the logged model takes raw rows. For
   regression, the label's training mean and standard deviation: the model's last layer turns
   its standardised output back into the label's units, so it trains and answers in them.

A file is read through ``tracking.data.sources``, which refuses what the model cannot train on
and sizes the splits; ``tracking.preflight.sources.check_source`` runs those same reads before
anything heavy is imported, so a bad CSV is refused in a second.
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

from tracking.config.errors import ConfigError
from tracking.config.train import DATASETS, TrainConfig
from tracking.data import mnist as _mnist_offline
from tracking.data.sources import SplitSizes, check_csv, read_images, read_npz, split_sizes
from tracking.model.scaling import NO_SCALING, Scaling

logger = logging.getLogger(__name__)


class Dataset(NamedTuple):
    """One dataset, split: x float32 (n, *input_shape) raw as stored, y int64 in 0..n_classes-1
    (classification) or float32 in the label's units (regression: ``class_names`` is empty).

    ``scaling``: what the model wraps around itself, from the training rows (the features'
    offset and divisor, a regression label's mean and standard deviation;
    ``tracking.model.scaling``); ``feature_names`` are the CSV's columns (empty for images
    and .npz examples, whose model takes a tensor). Built by keyword.
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    scaling: Scaling = NO_SCALING
    feature_names: tuple[str, ...] = ()
    label_name: str = ""

    @property
    def offset(self) -> np.ndarray:
        return self.scaling.offset

    @property
    def divisor(self) -> np.ndarray:
        return self.scaling.divisor

    @property
    def label_mean(self) -> float:
        return self.scaling.label_mean

    @property
    def label_std(self) -> float:
        return self.scaling.label_std

    @property
    def regression(self) -> bool:
        return not self.class_names

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_outputs(self) -> int:
        """Width of the model's output: one probability per class, or one number."""
        return self.n_classes or 1

    @property
    def n_features(self) -> int:
        """Values per example (784 for a 28x28 image)."""
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One raw example's shape: ``(784,)``, ``(28, 28, 1)``, ``(11,)``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def splits(self) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(split, MLflow dataset context, x, y) for train, validation and test."""
        return [
            ("train", "training", self.x_train, self.y_train),
            ("validation", "validation", self.x_val, self.y_val),
            ("test", "testing", self.x_test, self.y_test),
        ]

    def model_input(self, x: np.ndarray) -> np.ndarray | pd.DataFrame:
        """What the logged model takes: a DataFrame of raw rows (CSV) or the pixel array."""
        if not self.feature_names:
            return x
        return pd.DataFrame(x.astype(np.float64), columns=list(self.feature_names))

    def preprocessing(self) -> dict[str, object]:
        """What the model's first layer does to the raw features, for a human to read."""
        if self.feature_names:
            return {
                "formula": "(x - offset) / divisor: the training rows' min and max - min, "
                "divisor 1 for a constant column",
                "offset": dict(zip(self.feature_names, self.offset.tolist(), strict=True)),
                "divisor": dict(zip(self.feature_names, self.divisor.tolist(), strict=True)),
            }
        if self.offset.size == 0:  # a model fitted by its user (tracking.run.notebook)
            return {"formula": "none added: the model takes the examples as they were fitted"}
        low, span = float(self.offset.ravel()[0]), float(self.divisor.ravel()[0])
        if np.all(self.offset == low) and np.all(self.divisor == span):  # one range for all
            formula = f"pixel / {span:g}" if low == 0 else f"(x - {low:g}) / {span:g}"
            return {"formula": formula, "n_pixels": self.n_features}
        return {
            "formula": "(x - offset) / divisor per feature: the training rows' min and "
            "max - min, divisor 1 for a constant feature",
            "offset": self.offset.tolist(),
            "divisor": self.divisor.tolist(),
        }

    def facts(self) -> dict[str, int | float]:
        sizes = {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}
        if self.regression:
            return {**sizes, "n_features": self.n_features,
                    "label_mean": self.label_mean, "label_std": self.label_std}  # fmt: skip
        return {**sizes, "n_classes": self.n_classes, "n_features": self.n_features}


def load_dataset(config: TrainConfig, *, cache_dir: Path | None = None) -> Dataset:
    """Load, split and scale ``config.dataset``; MNIST is cached in ``cache_dir``."""
    examples = _examples(config, cache_dir)
    sizes = split_sizes(config, len(examples.y), own_test=examples.test is not None)
    return _split_and_scale(config, examples, sizes)


class _Examples(NamedTuple):
    """A source as loaded, before any split: float32 examples (shaped) and their labels (int64
    codes, or float32 numbers for regression); its own test split if it has one."""

    source: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    test: tuple[np.ndarray, np.ndarray] | None = None  # MNIST's, an .npz's x_test and y_test
    full_range: float | None = None  # pixels' range; None: the training rows' min and max
    feature_names: tuple[str, ...] = ()


def _examples(config: TrainConfig, cache_dir: Path | None) -> _Examples:
    """``config.dataset`` read (``tracking.data.sources`` for a file: refused if unusable)."""
    digit_names = tuple(map(str, range(10)))
    if config.dataset == "mnist":
        mnist, source = _mnist_offline.load_mnist(cache_dir or _default_cache_dir())
        x_test = _shaped(mnist.x_test.astype(np.float32), config)
        x = _shaped(mnist.x_train.astype(np.float32), config)
        return _Examples(source, x, mnist.y_train, digit_names, (x_test, mnist.y_test), 255.0)
    if config.dataset == "digits":
        digits = load_digits()
        x, y = _shaped(digits.data.astype(np.float32), config), digits.target.astype(np.int64)
        return _Examples("sklearn.datasets.load_digits", x, y, digit_names, full_range=16.0)
    source = str(Path(config.data_path).expanduser().resolve())
    if config.dataset == "images":
        images, labels = read_images(config.data_path)
        y, names = _encode_labels(pd.Series(labels))
        return _Examples(source, images.astype(np.float32), y, names, full_range=255.0)
    if config.dataset == "npz":
        return _npz(config, source)
    if config.dataset == "csv":
        return _csv(config, source)
    raise ConfigError("dataset", config.dataset, "is not supported", f"use {DATASETS}")


def _shaped(x: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Flat rows of square images (MNIST, digits, an npz's) as HxWx1 when input_shape=image."""
    if config.input_shape != "image":
        return x
    if x.ndim == 2:  # flat pixels of square images
        side = int(round(np.sqrt(x.shape[1])))
        return x.reshape(len(x), side, side, 1)
    return x[..., np.newaxis] if x.ndim == 3 else x


def _npz(config: TrainConfig, source: str) -> _Examples:
    """An .npz as ``read_npz`` accepted it, with its test split if it has one; labels encoded
    like a CSV's (over both splits)."""
    arrays = read_npz(config)
    x = _shaped(arrays["x_train"].astype(np.float32), config)
    has_test = "y_test" in arrays
    labels = [arrays["y_train"], *([arrays["y_test"]] if has_test else [])]
    names: tuple[str, ...] = ()
    if config.regression:
        y_all = np.concatenate(labels).astype(np.float32)
    else:
        y_all, names = _encode_labels(pd.Series(np.concatenate(labels)))
    test = None
    if has_test:
        test = (_shaped(arrays["x_test"].astype(np.float32), config), y_all[len(x) :])
    return _Examples(source, x, y_all[: len(x)], names, test)


def _csv(config: TrainConfig, source: str) -> _Examples:
    """The CSV as ``check_csv`` accepted it, read by pandas with the same separator; the
    columns stripped, as checked: the model's input names."""
    facts = check_csv(config)
    frame = pd.read_csv(Path(config.data_path).expanduser(), sep=facts.separator)
    frame.columns = list(facts.columns)
    names: tuple[str, ...] = ()
    if config.regression:  # numbers, checked by check_csv
        y = frame[config.label_column].to_numpy(dtype=np.float32)
    else:
        y, names = _encode_labels(frame[config.label_column])
    features = frame.drop(columns=config.label_column)
    x, columns = features.to_numpy(dtype=np.float32), tuple(map(str, features.columns))
    return _Examples(source, x, y, names, feature_names=columns)


def _default_cache_dir() -> Path:
    # Where Keras keeps its datasets (honours KERAS_HOME like Keras does).
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def _split_and_scale(config: TrainConfig, examples: _Examples, sizes: SplitSizes) -> Dataset:
    """Hold out the test split (unless the source has one), cap the training pool, take the
    validation split; scaling: the pixels' ``full_range``, or the training rows' min and max."""
    x, y, stratify = examples.x, examples.y, not config.regression
    test = examples.test
    if test is None:
        keep, held = _split(y, sizes.n_test, config.seed, stratify=stratify)
        x, y, test = x[keep], y[keep], (x[held], y[held])
    if sizes.n_keep < len(y):
        kept, _ = _split(y, len(y) - sizes.n_keep, config.seed, stratify=stratify)
        x, y = x[kept], y[kept]
    train, val = _split(y, sizes.n_val, config.seed, stratify=stratify)
    parts = [x[train], x[val], test[0]]
    size = x.shape[1] if x.ndim == 2 else 1  # rows of features, or one range per image
    if examples.full_range is not None:
        low, span = np.zeros(size), np.full(size, examples.full_range)
    else:  # each column's training min and max; an image's over all its values
        axes = 0 if x.ndim == 2 else None
        low = np.reshape(parts[0].min(axis=axes), size)
        high = np.reshape(parts[0].max(axis=axes), size)
        span = np.where(high > low, high - low, 1.0)  # a constant column scales to 0
    x_train, x_val, x_test = (np.ascontiguousarray(p, dtype=np.float32) for p in parts)
    label_type = np.float32 if config.regression else np.int64
    y_train, y_val, y_test = (np.asarray(v, dtype=label_type) for v in (y[train], y[val], test[1]))
    offset, divisor = (np.asarray(v, dtype=np.float32) for v in (low, span))
    mean, std = (float(y_train.mean()), float(y_train.std())) if config.regression else (0.0, 1.0)
    return Dataset(
        name=config.dataset, source=examples.source, x_train=x_train, y_train=y_train,
        x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test, class_names=examples.class_names,
        scaling=Scaling(offset, divisor, label_mean=mean, label_std=std if std > 0 else 1.0),
        feature_names=examples.feature_names,
        label_name=config.label_column if config.regression else "",
    )  # fmt: skip


def _split(
    y: np.ndarray, n_held: int, seed: int, *, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out) with ``n_held`` held out, stratified when every class allows
    (never for regression, whose labels are numbers, not classes)."""
    index = np.arange(len(y))
    if n_held == 0:
        return index, index[:0]
    try:
        kept, held = train_test_split(
            index, test_size=n_held, random_state=seed, stratify=y if stratify else None
        )
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
