"""Keras training tracked in MLflow, tuned by Optuna: the library behind ``pipelines/``.

The public surface, by concept (modules load on first use, so importing the light ones, such
as ``tracking.config.train``, never pulls in TensorFlow, MLflow, pandas or matplotlib):

- configuration: ``TrainConfig``, ``validate`` (``tracking.config.train``), ``ConfigError``,
  ``MonitorError`` (``tracking.config.errors``); bounds and choices live on the fields
  (``tracking.config.params``);
- data: ``check_source`` (``tracking.preflight.sources``, before anything heavy), ``Dataset``,
  ``load_dataset`` (``tracking.data.datasets``);
- MLflow: ``Tracker`` (``tracking.door.tracker``), the one door; tag names in
  ``tracking.config.tags``;
- training: ``train`` (``tracking.run.training``), ``TrainResult`` (``tracking.run.finishing``:
  what follows ``fit``);
- scoring any model URI: ``score_model_uri`` (``tracking.run.scoring``);
- your own ``model.fit`` and ``study.optimize`` from Python or a notebook: ``track``
  (``tracking.run.notebook``), ``track_study`` (``tracking.sweep.notebook``), both taking
  a ``TrackOptions`` (``tracking.run.fit_options``) or its fields as keywords;
- the sweep: ``tracking.sweep``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "TrainConfig": "tracking.config.train",
    "validate": "tracking.config.train",
    "ConfigError": "tracking.config.errors",
    "MonitorError": "tracking.config.errors",
    "check_source": "tracking.preflight.sources",
    "Dataset": "tracking.data.datasets",
    "load_dataset": "tracking.data.datasets",
    "Tracker": "tracking.door.tracker",
    "train": "tracking.run.training",
    "TrainResult": "tracking.run.finishing",
    "score_model_uri": "tracking.run.scoring",
    "track": "tracking.run.notebook",
    "TrackedRun": "tracking.run.notebook",
    "TrackOptions": "tracking.run.fit_options",
    "track_study": "tracking.sweep.notebook",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tracking' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
