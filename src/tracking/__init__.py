"""Keras training tracked in MLflow, tuned by Optuna: the library behind ``pipelines/``.

The public surface, by concept (modules load on first use, so importing the light ones, such
as ``tracking.config``, never pulls in TensorFlow, MLflow, pandas or matplotlib):

- configuration: ``TrainConfig``, ``validate`` (``tracking.config``), ``ConfigError``,
  ``MonitorError`` (``tracking.errors``); bounds and choices live on the fields
  (``tracking.params``);
- data: ``check_source`` (``tracking.data_check``, before anything heavy), ``Dataset``,
  ``load_dataset`` (``tracking.data``);
- MLflow: ``Tracker`` (``tracking.tracker``), the one door; tag names in ``tracking.tags``;
- training: ``train`` (``tracking.training``), ``TrainResult`` (``tracking.finishing``: what
  follows ``fit``);
- scoring any model URI: ``score_model_uri`` (``tracking.scoring``);
- your own ``model.fit`` and ``study.optimize`` from Python or a notebook: ``track``
  (``tracking.notebook``), ``track_study`` (``tracking.sweep.notebook``);
- the sweep: ``tracking.sweep``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "TrainConfig": "tracking.config",
    "validate": "tracking.config",
    "ConfigError": "tracking.errors",
    "MonitorError": "tracking.errors",
    "check_source": "tracking.data_check",
    "Dataset": "tracking.data",
    "load_dataset": "tracking.data",
    "Tracker": "tracking.tracker",
    "train": "tracking.training",
    "TrainResult": "tracking.finishing",
    "score_model_uri": "tracking.scoring",
    "track": "tracking.notebook",
    "TrackedRun": "tracking.notebook",
    "track_study": "tracking.sweep.notebook",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tracking' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
