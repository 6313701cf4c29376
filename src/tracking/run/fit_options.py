"""What tracking your own ``fit`` needs, shared by ``tracking.track`` and ``tracking.track_study``:
your arrays and how the run reads them (``TrackOptions``), and those arrays as a ``Dataset``.

    options = tracking.TrackOptions(train=(x, y), test=(x_test, y_test), data_name="digits")
    with tracking.track(options) as run: ...
    with tracking.track(train=(x, y), test=(x_test, y_test), data_name="digits") as run: ...

The two calls are the same: ``track`` and ``track_study`` take the options as one value or
their fields as keywords.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tracking.config.errors import ConfigError
from tracking.config.train import MONITORS, TASKS, TrainConfig
from tracking.data.datasets import Dataset
from tracking.report.model_card import FITTED_WITH

__all__ = ["Split", "TrackOptions", "arrays_dataset"]

Split = tuple[Any, Any]  # (examples, labels)


@dataclasses.dataclass(frozen=True)
class TrackOptions:
    """Your data and how a run of your own ``fit`` reads it.

    Args:
        train, test, validation: ``(x, y)`` as given to ``fit`` (``validation``: what
            ``validation_data`` gets; with ``validation_split`` leave it out). They are the
            run's dataset inputs and sizes; ``test`` scores the best weights.
        class_names: the classes' names, label ``i`` = ``class_names[i]`` (default ``"0"``...).
        task: ``classification`` (labels 0..k-1, or one-hot) or ``regression``.
        monitor: the Keras key for best weights and early stopping (``val_loss``, ``loss``,
            ``val_accuracy``, ...); ``patience``: epochs without improvement before early
            stopping (None: no early stopping).
        registered_model_name: the registered model that gets a version; default
            ``<data_name>-<Keras model name>`` (a study's: its name), ``""`` = do not register.
        data_name: what the data is called in run names, params and registered names.
    Raises ConfigError on a ``monitor``, ``task`` or ``patience`` it does not take.
    """

    train: Split
    test: Split
    validation: Split | None = None
    class_names: Sequence[str] | None = None
    task: str = "classification"
    monitor: str = "val_loss"
    patience: int | None = 5
    registered_model_name: str | None = None
    data_name: str = "arrays"

    def __post_init__(self) -> None:
        for name, value, choices in (("monitor", self.monitor, MONITORS),
                                     ("task", self.task, TASKS)):  # fmt: skip
            if value not in choices:
                fix = f"pass one of {', '.join(choices)}"
                raise ConfigError(name, value, "is not supported", fix)
        patience = self.patience
        if not isinstance(patience, (int, type(None))) or (patience or 0) < 0:
            raise ConfigError("patience", patience, "must be an int >= 0 or None", "pass e.g. 5")

    @classmethod
    def of(cls, options: TrackOptions | None, fields: Mapping[str, Any]) -> TrackOptions:
        """``options``, or the options ``fields`` (keywords) make; not both."""
        if options is not None and fields:
            raise TypeError(f"pass TrackOptions or its fields, not both (got {sorted(fields)})")
        return options if options is not None else cls(**fields)

    def dataset(self) -> Dataset:
        return arrays_dataset(
            self.data_name, self.train, self.test, self.validation, self.class_names, self.task
        )

    def config(self) -> TrainConfig:
        """The ``TrainConfig`` of the run: task, monitor, early stopping, registered name."""
        return TrainConfig(
            task=self.task,
            monitor=self.monitor,
            patience=0 if self.patience is None else self.patience,
            registered_model_name=self.registered_model_name or "",
        )

    def params(self, dataset: Dataset) -> dict[str, Any]:
        """What the run logs as params, besides your own."""
        return {
            "dataset": self.data_name,
            "data_source": dataset.source,
            "fitted_with": FITTED_WITH,  # the model card: no scaling was added
            "task": self.task,
            "monitor": self.monitor,
            "patience": "none" if self.patience is None else self.patience,
            **dataset.facts(),
        }


def arrays_dataset(
    name: str,
    train: Split,
    test: Split,
    validation: Split | None = None,
    class_names: Sequence[str] | None = None,
    task: str = "classification",
) -> Dataset:
    """Your arrays as a ``Dataset``, unscaled: labels 0..k-1 (or one-hot rows) of classes
    named ``class_names`` (default ``"0"``, ``"1"``, ...), or numbers for regression."""
    regression = task == "regression"

    def labels(y: Any) -> np.ndarray:
        y = np.asarray(y)
        if regression:
            return y.astype(np.float32).reshape(len(y))
        if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
            y = y.argmax(axis=1)
        return y.astype(np.int64).reshape(len(y))

    x_train, y_train = np.asarray(train[0]), labels(train[1])
    x_test, y_test = np.asarray(test[0]), labels(test[1])
    if validation is not None:
        x_val, y_val = np.asarray(validation[0]), labels(validation[1])
    else:
        x_val, y_val = x_train[:0], y_train[:0]
    names: tuple[str, ...] = ()
    if not regression:
        seen = int(max(y.max(initial=0) for y in (y_train, y_val, y_test))) + 1
        names = tuple(str(c) for c in class_names) if class_names else tuple(map(str, range(seen)))
    return Dataset(  # no scaling: the user's model takes the arrays as they are
        name=name,
        source="arrays given to tracking.track",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        class_names=names,
    )
