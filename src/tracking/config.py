"""One configuration surface: MLproject parameters = CLI flags = this frozen dataclass.

Nothing here imports TensorFlow, so bad input is refused in well under a second, before a run
exists. ``tests/tracking_tests/test_config.py`` checks that MLproject, the CLI and these defaults
agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracking.errors import ConfigError

DATASETS = ("mnist", "digits", "csv")
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
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


def _opt(help: str, **extra: Any) -> Any:
    return {"help": help, **extra}


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on, in Keras's words. Logged whole as run params."""

    # data
    dataset: str = field(default="mnist", metadata=_opt("mnist | digits | csv", choices=DATASETS))
    data_path: str = field(default="", metadata=_opt("CSV file, for dataset=csv"))
    label_column: str = field(default="quality", metadata=_opt("CSV label column"))
    validation_split: float = field(
        default=0.1, metadata=_opt("fraction of training rows held out for validation")
    )
    max_train_samples: int = field(
        default=0, metadata=_opt("cap on training rows before the split, 0 = all")
    )
    seed: int = field(default=42, metadata=_opt("seed for the split, weights and shuffling"))
    # model
    hidden_units: str = field(default="300,200,100", metadata=_opt("comma-separated layer sizes"))
    activation: str = field(default="relu", metadata=_opt("hidden activation", choices=ACTIVATIONS))
    kernel_initializer: str = field(
        default="he_normal", metadata=_opt("hidden-layer initializer", choices=INITIALIZERS)
    )
    batch_norm: bool = field(default=False, metadata=_opt("BatchNormalization after each Dense"))
    dropout: float = field(default=0.2, metadata=_opt("Dropout rate after each hidden layer"))
    l2: float = field(default=0.0, metadata=_opt("L2 factor on every hidden kernel"))
    # optimiser
    optimizer: str = field(
        default="adam", metadata=_opt("adam | sgd | rmsprop", choices=OPTIMIZERS)
    )
    learning_rate: float = field(default=1e-3, metadata=_opt("optimizer learning rate"))
    # fit
    epochs: int = field(default=20, metadata=_opt("maximum number of epochs"))
    batch_size: int = field(default=128, metadata=_opt("mini-batch size"))
    monitor: str = field(
        default="val_loss", metadata=_opt("metric for early stopping and best weights")
    )
    patience: int = field(
        default=5, metadata=_opt("epochs without improvement before early stopping")
    )
    # registry
    registered_model_name: str = field(
        default="mnist-mlp", metadata=_opt("registered model to add a version to, '' = none")
    )

    @property
    def units(self) -> tuple[int, ...]:
        return tuple(int(u) for u in self.hidden_units.split(","))

    @property
    def monitor_mode(self) -> str:
        return monitor_mode(self.monitor)

    def as_params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def monitor_mode(monitor: str) -> str:
    """``min`` for losses, ``max`` for accuracies (as Keras's EarlyStopping infers)."""
    return "max" if "acc" in monitor else "min"


def validate(config: TrainConfig) -> TrainConfig:
    """Raise ConfigError on the first bad parameter; return the config unchanged otherwise."""
    c = config

    def need(ok: bool, name: str, problem: str, fix: str) -> None:
        if not ok:
            raise ConfigError(name, getattr(c, name), problem, fix)

    for name, choices in (
        ("dataset", DATASETS),
        ("optimizer", OPTIMIZERS),
        ("activation", ACTIVATIONS),
        ("kernel_initializer", INITIALIZERS),
    ):
        need(
            getattr(c, name) in choices,
            name,
            "is not supported",
            f"use one of {', '.join(choices)}",
        )
    need(
        positive_ints(c.hidden_units),
        "hidden_units",
        "is not a list of positive integers",
        "pass e.g. -P hidden_units=300,200,100",
    )
    need(
        math.isfinite(c.learning_rate) and c.learning_rate > 0,
        "learning_rate",
        "must be greater than 0",
        "pass e.g. -P learning_rate=0.001",
    )
    need(0.0 <= c.dropout < 1.0, "dropout", "must be in [0, 1)", "pass e.g. -P dropout=0.2")
    need(math.isfinite(c.l2) and c.l2 >= 0, "l2", "must be 0 or greater", "pass e.g. -P l2=1e-4")
    need(c.epochs >= 1, "epochs", "must be at least 1", "pass e.g. -P epochs=20")
    need(c.batch_size >= 1, "batch_size", "must be at least 1", "pass e.g. -P batch_size=128")
    need(c.patience >= 0, "patience", "must be 0 or greater", "pass e.g. -P patience=5")
    need(
        0.0 <= c.validation_split < 1.0,
        "validation_split",
        "must be in [0, 1)",
        "pass e.g. -P validation_split=0.1",
    )
    need(
        c.max_train_samples >= 0,
        "max_train_samples",
        "must be 0 (all rows) or a positive cap",
        "pass e.g. -P max_train_samples=5000",
    )
    need(
        c.monitor in MONITORS,
        "monitor",
        "is not a metric this run produces",
        f"use one of {', '.join(MONITORS)}",
    )
    need(
        not (c.monitor.startswith("val_") and c.validation_split == 0),
        "monitor",
        "needs a validation split but validation_split=0",
        "pass -P validation_split=0.1 or -P monitor=loss",
    )
    need(
        c.dataset != "csv" or bool(c.data_path),
        "data_path",
        "is required for dataset=csv",
        "pass -P data_path=path/to/winequality-red.csv",
    )
    return config


def positive_ints(text: str) -> bool:
    """``"300,200,100"`` -> True: a non-empty comma-separated list of positive integers."""
    parts = text.split(",")
    return bool(text) and all(p.strip().isdigit() and int(p) > 0 for p in parts)


# --- CLI -----------------------------------------------------------------------------------


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit 2) instead of usage + error."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--flag-name`` (alias ``--flag_name``) per dataclass field, typed, with its default."""
    for f in dataclasses.fields(cls):
        kinds: dict[str, Callable[[str], Any]] = {"bool": parse_bool, "int": int, "float": float}
        kind = kinds.get(str(f.type), str)
        flags = [f"--{f.name.replace('_', '-')}"]
        if "_" in f.name:
            flags.append(f"--{f.name}")
        parser.add_argument(
            *flags,
            dest=f.name,
            type=kind,
            default=f.default,
            metavar=f.type.upper() if isinstance(f.type, str) else None,
            help=f"{f.metadata.get('help', '')} (default: {f.default!r})",
        )


def config_from_namespace(cls: type, ns: argparse.Namespace) -> Any:
    return cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)})


def parse_dataclasses(
    argv: Sequence[str] | None, prog: str, description: str | None, *classes: type
) -> list[Any]:
    """One CLI made of the flags of several config dataclasses; one instance of each."""
    parser = OneLineParser(prog=prog, description=description)
    for cls in classes:
        add_dataclass_flags(parser, cls)
    ns = parser.parse_args(argv)
    return [config_from_namespace(cls, ns) for cls in classes]


def parse_train_args(argv: Sequence[str] | None) -> TrainConfig:
    (config,) = parse_dataclasses(argv, "python -m pipelines.train", __doc__, TrainConfig)
    return config  # type: ignore[no-any-return]
