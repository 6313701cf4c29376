"""What a logged model takes as input, known before any data is loaded (standard library only).

A CSV model takes a DataFrame of raw rows: one named input per feature column, in any order
(extra columns, such as the label, are ignored). An image model takes a float32 tensor of raw
pixels, ``(n, 784)`` for MNIST or ``(n, 64)`` for digits. ``expected_inputs`` tells it from the
parameters alone, so registering into a model whose versions take other inputs is refused
before training (``tracking.registry``).
"""

from __future__ import annotations

from typing import NamedTuple

from tracking.config import TrainConfig
from tracking.data_check import check_csv

PIXELS = {"mnist": 784, "digits": 64}


class ModelInputs(NamedTuple):
    columns: tuple[str, ...]  # the named inputs (CSV columns); () for a tensor of pixels
    width: int  # values per row

    def describe(self) -> str:
        if not self.columns:
            return f"a float32 tensor of {self.width} raw pixel values per row"
        shown = ", ".join(self.columns[:6]) + (", ..." if len(self.columns) > 6 else "")
        return f"rows with {self.width} named columns ({shown})"

    def differs_from(self, other: ModelInputs) -> bool:
        """Another input signature: other column names (in any order), or another width."""
        return set(self.columns) != set(other.columns) or self.width != other.width


def expected_inputs(config: TrainConfig) -> ModelInputs:
    """The inputs of the model ``config`` trains (reads a CSV's header, nothing heavy)."""
    if config.dataset in PIXELS:
        return ModelInputs((), PIXELS[config.dataset])
    facts = check_csv(config)
    columns = tuple(c for c in facts.columns if c != config.label_column)
    return ModelInputs(columns, len(columns))
