"""The model: the built-in MLP and the project's scaling around any model function
(``build``), the Keras callbacks (``callbacks``), per-epoch backups (``backup``), devices
(``devices``) and the rows-in, labels-out face a logged model ships (``keras_rows``).

``tracking.model:mlp`` is the built-in model function's name (``-P model``'s default, recorded
by runs and studies): it stays importable from here, loaded on first use (TensorFlow)."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name != "mlp":
        raise AttributeError(f"module 'tracking.model' has no attribute {name!r}")
    return importlib.import_module("tracking.model.build").mlp
