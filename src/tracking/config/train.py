"""One configuration surface: MLproject parameters = CLI flags = this frozen dataclass.

Each field declares its help, choices and bounds (``tracking.config.params.param``); ``validate``
checks those and the few rules that involve two fields. Standard library only, so bad input is
refused in well under a second, before TensorFlow, MLflow or a run exists.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tracking.config.cadence import Cadence, parse_cadence
from tracking.config.errors import ConfigError
from tracking.config.model_function import BUILT_IN, check_spec, short_name, user_params
from tracking.config.params import check, param

DATASETS = ("mnist", "digits", "csv", "npz", "images")
# auto: one example as the data holds it (784 MNIST pixels, 64 digits pixels, one value per CSV
# column, an npz's own shape); image: MNIST and digits as 28x28x1 and 8x8x1 images, an npz's
# 2-D examples with a channel axis.
INPUT_SHAPES = ("auto", "image")
TASKS = ("classification", "regression")
# loss: auto = cross-entropy for classification, mae for regression (Keras's names).
LOSSES = ("auto", "mae", "mse", "huber")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
ACTIVATIONS = ("relu", "elu", "selu", "tanh", "sigmoid", "gelu", "swish", "leaky_relu")
INITIALIZERS = (
    "he_normal",
    "he_uniform",
    "glorot_uniform",
    "glorot_normal",
    "lecun_normal",
    "lecun_uniform",
)
# Each metric's own direction, as Keras's EarlyStopping infers it: a monitor is a metric or
# ``val_`` + a metric; anything else is an error, never a guess from a substring.
METRIC_MODES: dict[str, Literal["min", "max"]] = {
    "loss": "min",
    "accuracy": "max",
    "mae": "min",
    "mse": "min",
}
# The Keras metrics each task compiles (besides the loss): what can be monitored.
TASK_METRICS = {"classification": ("accuracy",), "regression": ("mae", "mse")}
# What a challenger and a champion are compared on (test split), and each test metric's direction.
PROMOTION_METRIC = {"classification": "test_accuracy", "regression": "test_mae"}
TEST_METRIC_MODES: dict[str, Literal["min", "max"]] = {
    "test_loss": "min",
    "test_accuracy": "max",
    "test_mae": "min",
    "test_rmse": "min",
    "test_r2": "max",
}
MONITORS = tuple(f"{prefix}{m}" for prefix in ("val_", "") for m in METRIC_MODES)
AUTO = "auto"  # registered_model_name: named after the data
# The parameters that pick and split the data (all that `evaluate` needs).
DATA_FIELDS = (
    "dataset",
    "data_path",
    "label_column",
    "validation_split",
    "max_train_samples",
    "seed",
    "task",
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on, in Keras's words. Logged whole as run params."""

    # data
    dataset: str = param("mnist", "mnist | digits | csv | npz | images", choices=DATASETS)
    data_path: str = param(
        "", "CSV file, .npz file or folder of images, for dataset=csv|npz|images",
        example="winequality-red.csv",
    )  # fmt: skip
    label_column: str = param("quality", "CSV label column")
    validation_split: float = param(
        0.1, "fraction of training rows held out for validation", at_least=0, below=1
    )
    max_train_samples: int = param(
        0, "cap on training rows before the split, 0 = all", at_least=0, example="5000"
    )
    seed: int = param(42, "seed for the split, weights and shuffling")
    task: str = param(
        "classification", "classification | regression (numeric CSV label)", choices=TASKS
    )
    input_shape: str = param(
        "auto", "auto = one example as stored | image = MNIST/digits as HxWx1", choices=INPUT_SHAPES
    )
    # model
    model: str = param(
        BUILT_IN, "model function <file.py or module>:<function>", example="examples/cnn.py:build"
    )
    params: str = param(
        "", "JSON object of your own hyperparameters for the model function", example="{}"
    )
    hidden_units: str = param("300,200,100", "MLP: comma-separated layer sizes", int_list=True)
    activation: str = param("relu", "hidden activation", choices=ACTIVATIONS)
    kernel_initializer: str = param("he_normal", "hidden-layer initializer", choices=INITIALIZERS)
    batch_norm: bool = param(False, "BatchNormalization after each Dense")
    dropout: float = param(0.2, "Dropout rate after each hidden layer", at_least=0, below=1)
    translation: float = param(
        0.0,
        "images, built-in MLP: shift each training image at random by up to this fraction of "
        "its height and width (Keras's RandomTranslation), 0 = none",
        at_least=0,
        below=0.5,
        example="0.1",
    )
    l2: float = param(0.0, "L2 factor on every hidden kernel", at_least=0, example="1e-4")
    loss: str = param(
        "auto", "auto | mae | mse | huber; auto = cross-entropy or mae", choices=LOSSES
    )
    # optimiser
    optimizer: str = param("adam", "adam | sgd | rmsprop", choices=OPTIMIZERS)
    learning_rate: float = param(1e-3, "optimizer learning rate", above=0)
    # fit
    epochs: int = param(20, "maximum number of epochs", at_least=1)
    batch_size: int = param(128, "mini-batch size", at_least=1)
    monitor: str = param("val_loss", "metric for early stopping and best weights", choices=MONITORS)
    patience: int = param(5, "epochs without improvement before early stopping", at_least=0)
    reduce_lr_patience: int = param(
        2, "epochs without improvement before the learning rate is halved, 0 = never", at_least=0
    )
    shift_train_curves: bool = param(False, "draw training curves half an epoch to the left")
    # registry
    registered_model_name: str = param(
        "auto", "registered model to add a version to: auto = <data>-<model>, '' = none"
    )
    # machine: MLflow's system metrics (CPU, memory, disk, network, GPUs) on the run's page
    system_metrics: bool = param(True, "log the machine's CPU, memory, disk, network, GPU use")
    system_metrics_interval: float = param(
        10.0, "seconds between two system metrics samples", above=0, example="5"
    )
    # the backup mirrored to the run's artifacts, for a resume on another machine
    checkpoint_every: str = param(
        "epoch", "mirror the backup to the run's artifacts: epoch | <N>s | off", example="60s"
    )

    @property
    def units(self) -> tuple[int, ...]:
        return tuple(int(u) for u in self.hidden_units.split(","))

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def keras_loss(self) -> str:
        """The loss Keras compiles: cross-entropy for classes, else ``loss`` (auto = mae)."""
        if not self.regression:
            return "sparse_categorical_crossentropy"
        return "mae" if self.loss == "auto" else self.loss

    @property
    def keras_metrics(self) -> tuple[str, ...]:
        return TASK_METRICS[self.task]

    @property
    def monitor_mode(self) -> Literal["min", "max"]:
        return monitor_mode(self.monitor)

    @property
    def model_name(self) -> str:
        """The registered model's name: ``auto`` resolved, ``""`` = do not register."""
        return model_name(self)

    @property
    def checkpoint_cadence(self) -> Cadence:
        """``checkpoint_every`` parsed (``validate`` refuses what does not parse)."""
        return parse_cadence(self.checkpoint_every)

    def as_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def user_params(self) -> dict[str, Any]:
        """``params`` as a dict: the user's own hyperparameters."""
        return user_params(self.params, TrainConfig)


def monitor_mode(monitor: str) -> Literal["min", "max"]:
    """``min`` for losses, ``max`` for accuracies: the metric's own direction."""
    metric = monitor.removeprefix("val_")
    if metric not in METRIC_MODES:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)} but got {monitor!r}.")
    return METRIC_MODES[metric]


def model_name(config: TrainConfig) -> str:
    """``auto``: ``<data>-<model>``: the data is ``mnist``, ``digits`` or the CSV or npz file's
    stem, the model ``mlp`` (the built-in one) or the model function's file stem (``cnn``);
    else as given."""
    if config.registered_model_name != AUTO:
        return config.registered_model_name
    return data_model_name(config)


def data_model_name(config: TrainConfig) -> str:
    """``<data>-<model>``, what ``auto`` names after: ``mnist-mlp``, ``winequality-red-cnn``."""
    model = short_name(config.model)
    if config.dataset not in ("csv", "npz", "images"):
        return f"{config.dataset}-{model}"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(config.data_path).resolve().stem).strip("-.")
    return f"{stem or config.dataset}-{model}"


def validate(config: TrainConfig) -> None:
    """Raise ConfigError on the first bad parameter (field bounds, then cross-field rules)."""
    check(config)
    validate_data(config)
    try:
        parse_cadence(config.checkpoint_every)
    except ValueError as error:
        raise ConfigError(
            "checkpoint_every",
            config.checkpoint_every,
            str(error),
            "pass -P checkpoint_every=epoch",
        ) from None
    check_spec(config.model)
    user_params(config.params, TrainConfig)
    if config.input_shape == "image" and config.dataset == "csv":
        raise ConfigError(
            "input_shape",
            config.input_shape,
            "needs images, but dataset=csv holds rows of columns",
            "pass -P input_shape=auto, or -P dataset=mnist|digits|npz",
        )
    if config.translation > 0 and config.dataset == "csv":
        raise ConfigError(
            "translation",
            config.translation,
            "shifts the pixels of images, but dataset=csv holds rows of columns",
            "pass -P translation=0, or -P dataset=mnist|digits|npz|images",
        )
    if any(c in config.registered_model_name for c in "/:"):  # the Model Registry refuses them
        raise ConfigError(
            "registered_model_name",
            config.registered_model_name,
            "cannot contain '/' or ':'",
            "pass e.g. -P registered_model_name=wine-mlp, or auto",
        )
    metric = config.monitor.removeprefix("val_")
    if metric != "loss" and metric not in config.keras_metrics:
        raise ConfigError(
            "monitor",
            config.monitor,
            f"is not a metric of task={config.task}",
            f"pass -P monitor=val_loss or -P monitor=val_{config.keras_metrics[0]}",
        )
    if config.loss != "auto" and not config.regression:
        raise ConfigError(
            "loss",
            config.loss,
            "is a regression loss but task=classification (which trains on cross-entropy)",
            "pass -P task=regression, or -P loss=auto",
        )
    if config.monitor.startswith("val_") and config.validation_split == 0:
        raise ConfigError(
            "monitor",
            config.monitor,
            "needs a validation split but validation_split=0",
            "pass -P validation_split=0.1 or -P monitor=loss",
        )


def validate_data(config: TrainConfig) -> None:
    """The data parameters alone (``DATA_FIELDS``): all that scoring a model needs."""
    check(config, only=DATA_FIELDS)
    if config.dataset in ("csv", "npz", "images") and not config.data_path:
        example = {"csv": "winequality-red.csv", "npz": "data.npz"}.get(config.dataset, "folder/")
        raise ConfigError(
            "data_path",
            config.data_path,
            f"is required for dataset={config.dataset}",
            f"pass -P data_path=path/to/{example}",
        )
    if config.task == "regression" and config.dataset not in ("csv", "npz"):
        raise ConfigError(
            "task",
            config.task,
            f"needs a numeric label, but dataset={config.dataset} has classes",
            "pass -P dataset=csv -P data_path=... -P label_column=<numeric column>, "
            "or -P task=classification",
        )
