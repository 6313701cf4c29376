"""What a logged model takes as input, known before any data is loaded (standard library only).

A CSV model takes raw rows with its feature columns by name, in any order (extra columns, such
as the label, are ignored). An image model takes rows of raw pixels, 784 values per row for
MNIST, 64 for digits. Either in any int or float dtype (``tracking.model.keras_rows``); versions
logged before that took one dtype only, which their signature says (``dtype``). ``expected_inputs``
tells it from the parameters alone, so registering into a model whose versions take other
inputs is refused before training (``tracking.run.registry``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

from tracking.config.train import TrainConfig
from tracking.data.sources import check_csv, read_images, read_npz

PIXELS = {"mnist": 784, "digits": 64}


class ModelInputs(NamedTuple):
    columns: tuple[str, ...]  # the named inputs (CSV columns); () for rows of pixels
    width: int  # values per row
    dtype: str = ""  # "": any int or float dtype; else the one dtype the signature enforces
    shape: tuple[int, ...] = ()  # one example's shape, when the model says (28, 28, 1)

    def describe(self) -> str:
        if len(self.shape) > 1 and not self.dtype:
            image = "x".join(map(str, self.shape))
            return f"{image} images of raw values (or rows of {self.width}), any int or float dtype"
        if not self.columns:
            if self.dtype:
                return f"a {self.dtype} tensor of {self.width} raw pixel values per row"
            return f"rows of {self.width} raw values (pixels as stored), any int or float dtype"
        shown = ", ".join(self.columns[:6]) + (", ..." if len(self.columns) > 6 else "")
        dtype = f"{self.dtype} only" if self.dtype else "any int or float dtype"
        return f"rows with {self.width} named columns ({shown}), {dtype}"

    def differs_from(self, other: ModelInputs) -> bool:
        """Another input signature: other column names (in any order), or another width."""
        return set(self.columns) != set(other.columns) or self.width != other.width


def expected_inputs(config: TrainConfig) -> ModelInputs:
    """The inputs of the model ``config`` trains (reads a CSV's header, nothing heavy)."""
    if config.dataset in PIXELS:
        return ModelInputs((), PIXELS[config.dataset])
    if config.dataset == "npz":
        return ModelInputs((), math.prod(read_npz(config)["x_train"].shape[1:]))
    if config.dataset == "images":
        return ModelInputs((), math.prod(read_images(config.data_path)[0].shape[1:]))
    facts = check_csv(config)
    columns = tuple(c for c in facts.columns if c != config.label_column)
    return ModelInputs(columns, len(columns))


def class_values(class_names: Sequence[str]) -> list[int | float | str]:
    """The labels as the training data held them, from their names: all ints, all numbers, or
    all text (as pandas reads a label column back from a CSV; digits and MNIST are ints)."""
    names: list[int | float | str] = [str(n) for n in class_names]
    if names and all(re.fullmatch(r"[+-]?\d+", str(n)) for n in names):
        return [int(n) for n in names]
    try:
        return [float(n) for n in names]
    except ValueError:
        return names
