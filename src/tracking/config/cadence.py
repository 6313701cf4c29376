"""How often a run's backup is mirrored to its artifacts (``-P checkpoint_every``).

``epoch``: at the end of every epoch; ``<N>s``: at the end of the first epoch that ends at least
N seconds after the last mirrored one; ``off``: never. A checkpoint is only whole at the end of
an epoch (``tracking.model.backup``), so a tick can only fall there. Standard library only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SECONDS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")


@dataclass(frozen=True)
class Cadence:
    """``seconds`` None: off; 0: every epoch; above 0: at most one tick per that many seconds."""

    seconds: float | None

    @property
    def off(self) -> bool:
        return self.seconds is None

    def due(self, now: float, last: float | None) -> bool:
        """A tick at ``now`` (seconds, a monotonic clock) when the last one was at ``last``
        (None: none yet; the first epoch's end is always a tick)."""
        if self.seconds is None:
            return False
        return last is None or now - last >= self.seconds


def parse_cadence(text: str) -> Cadence:
    """``epoch``, ``off`` or ``<N>s``; ValueError naming what is accepted otherwise."""
    word = text.strip().lower()
    if word == "epoch":
        return Cadence(0.0)
    if word == "off":
        return Cadence(None)
    match = _SECONDS.match(word)
    if match is None or not math.isfinite(float(match[1])) or float(match[1]) <= 0:
        raise ValueError("must be epoch, off or a number of seconds such as 60s")
    return Cadence(float(match[1]))
