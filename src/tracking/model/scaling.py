"""What the project wraps around a model: its features scaled in, a regression's output scaled out.

A ``Scaling`` is computed from the training rows (``tracking.data.datasets``) and carried by the
``Dataset``; ``tracking.model.build.build_model`` turns it into the model's first layer
(``(x - offset) / divisor``) and, for regression, its last (``* label_std + label_mean``), so
that the model takes rows as stored and answers in the label's units. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _none() -> np.ndarray:
    return np.zeros(0, np.float32)


@dataclass(frozen=True, eq=False)
class Scaling:
    """``offset`` and ``divisor`` (float32, one per feature of a row, or one for every value of
    an image) scale the features into [0, 1] as ``(x - offset) / divisor``; both empty: the
    model takes the features as they are (a model its user fitted, ``tracking.run.notebook``).
    ``label_mean`` and ``label_std``: a regression's training labels, which the model's
    standardised output is turned back into."""

    offset: np.ndarray = field(default_factory=_none)
    divisor: np.ndarray = field(default_factory=_none)
    label_mean: float = 0.0
    label_std: float = 1.0

    @property
    def scales_inputs(self) -> bool:
        return self.offset.size > 0

    def __eq__(self, other: object) -> bool:  # arrays by value: same data, same scaling
        if not isinstance(other, Scaling):
            return NotImplemented
        return (
            np.array_equal(self.offset, other.offset)
            and np.array_equal(self.divisor, other.divisor)
            and (self.label_mean, self.label_std) == (other.label_mean, other.label_std)
        )

    __hash__ = None  # type: ignore[assignment]


NO_SCALING = Scaling()
