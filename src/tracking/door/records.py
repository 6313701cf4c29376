"""What the MLflow door (``tracking.door.tracker``) hands out: the project's own small frozen types.

Standard library only. The door turns MLflow's ``Run``, ``Metric`` and ``ModelVersion`` into
these, so that no module outside it depends on MLflow's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class RunRecord:
    """A run as the tracking store holds it: its status and what was logged into it."""

    run_id: str
    name: str
    experiment_id: str
    status: str  # RUNNING, FINISHED, FAILED or KILLED
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)  # each key's latest value
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("params", "metrics", "tags"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


@dataclass(frozen=True)
class MetricPoint:
    """One logged value of a metric: ``step`` is Keras's 0-based epoch index."""

    key: str
    value: float
    step: int
    timestamp: int  # milliseconds since the epoch


@dataclass(frozen=True)
class VersionRecord:
    """A registered model version."""

    name: str
    version: str
    run_id: str
    source: str  # where its files are (a model URI or an artifact location)


@dataclass(frozen=True)
class LoadedModel:
    """A logged or registered model loaded through the door, ready to predict.

    ``predict(rows, params)`` is MLflow's pyfunc ``predict``; ``metadata`` what the model was
    logged with (``tracking.door.logged_model``); ``takes_params`` whether it accepts params (the
    ``output`` switch of a classifier). ``handle`` is for the door only (it hands the model
    back to MLflow's evaluation).
    """

    uri: str
    metadata: Mapping[str, Any]
    takes_params: bool
    predict: Callable[..., Any]
    handle: Any = field(repr=False, compare=False, default=None)
