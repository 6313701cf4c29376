"""The checks an entry point makes before it trains, in the order they get heavier.

``pipelines.train`` and ``pipelines.sweep`` make the same ones: the flags (by name, no
abbreviation: ``pipelines._cli``), the values, the data source and the tracking server, before
anything heavy is imported (``light``); the registered model's inputs, once MLflow is imported
(``registry``); the model function called once on the data, once TensorFlow is imported
(``model_on_data``). Each raises ``ConfigError``, which the entry point reports in one line.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tracking.config.train import TrainConfig, validate
from tracking.preflight.servers import check_tracking_uri
from tracking.preflight.sources import check_source

if TYPE_CHECKING:  # MLflow and TensorFlow load only when the checks that need them run
    from tracking.data.datasets import Dataset
    from tracking.door.tracker import Tracker


def light(config: TrainConfig) -> None:
    """The values, the data source and the tracking server: standard library and numpy only."""
    validate(config)
    check_source(config)
    check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"), config.model_name)


def registry(tracker: Tracker, config: TrainConfig) -> None:
    """The registered model ``config`` names takes this data's inputs (MLflow, no TensorFlow)."""
    from tracking.run.registry import check_target

    check_target(tracker, config)


def model_on_data(config: TrainConfig) -> Dataset:
    """The data loaded once, and the model function called once on it: a failing one leaves no
    run behind. Call after ``pipelines._cli.import_tensorflow``."""
    from tracking.data.datasets import load_dataset
    from tracking.model.build import check_model

    dataset = load_dataset(config)
    check_model(config, dataset)
    return dataset
