"""The sweep's own dimensions: what each trial may change in the base configuration.

For every model: ``epochs``, ``batch_size``, ``learning_rate`` (adam and rmsprop; log),
``sgd_learning_rate`` (sgd's own range; log), ``dropout``, ``l2`` (log) and
``reduce_lr_patience`` (the learning-rate schedule). For the built-in MLP (``tracking.model:mlp``)
also ``optimizer``, ``batch_norm``, ``hidden_layers`` and ``hidden_width`` (log), which make
``hidden_units`` (``tracking.sweep.space.hidden_units``), and on images (``IMAGES``)
``translation``, the random shift of each training image. Each is an ``Entry`` of
``tracking.sweep.search_space`` built from the ``-P`` bounds and choices (equal bounds or one
choice: a constant, not searched); an entry of ``-P search_space`` with the same name replaces
it, so a space file narrows or fixes a dimension too. Standard library and PyYAML only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from tracking.config.errors import ConfigError
from tracking.config.model_function import BUILT_IN
from tracking.config.train import OPTIMIZERS, TrainConfig
from tracking.sweep.config import SweepConfig
from tracking.sweep.search_space import (
    DIMENSIONS,
    INTEGER,
    Entry,
    entries,
)

# A space file's entry for hidden_layers or hidden_width is the user's own hyperparameter when
# the model is the user's: they are no TrainConfig field, and only the built-in MLP reads them.
MLP_SHAPE = ("hidden_layers", "hidden_width")
# The data whose examples are images large enough to shift a few pixels (digits' 8x8 are not:
# one pixel is an eighth of the picture).
IMAGES = ("mnist", "images")


class Space(NamedTuple):
    """The dimensions a trial draws (by name) and the user's own entries of ``-P search_space``."""

    dimensions: dict[str, Entry]
    own: tuple[Entry, ...]


def _range(name: str, low: float, high: float, kind: str) -> Entry:
    return Entry(name, "constant", (low,)) if low == high else Entry(name, kind, (), low, high)


def _choices(name: str, values: Sequence[Any]) -> Entry:
    values = tuple(dict.fromkeys(values))
    return Entry(name, "constant" if len(values) == 1 else "categorical", values)


def from_flags(base: TrainConfig, sweep: SweepConfig) -> dict[str, Entry]:
    """The dimensions as ``-P`` gives them (the built-in MLP's only for the built-in model)."""
    s = sweep
    dims = {
        "epochs": _range("epochs", s.epochs_min, s.epochs_max, "int_uniform"),
        "batch_size": _choices("batch_size", s.batch_size_choices),
        "learning_rate": _range(
            "learning_rate", s.learning_rate_min, s.learning_rate_max, "log_uniform_values"
        ),
        "sgd_learning_rate": _range(
            "sgd_learning_rate",
            s.sgd_learning_rate_min,
            s.sgd_learning_rate_max,
            "log_uniform_values",
        ),  # fmt: skip
        "dropout": _range("dropout", s.dropout_min, s.dropout_max, "uniform"),
        "l2": _range("l2", s.l2_min, s.l2_max, "log_uniform_values"),
        "reduce_lr_patience": _choices("reduce_lr_patience", s.reduce_lr_patience_choices),
    }
    if base.model == BUILT_IN:
        dims["optimizer"] = _choices("optimizer", s.optimizer_choices)
        dims["batch_norm"] = _choices("batch_norm", s.batch_norm_choices)
        dims["hidden_layers"] = _range(
            "hidden_layers", s.hidden_layers_min, s.hidden_layers_max, "int_uniform"
        )
        dims["hidden_width"] = _range(
            "hidden_width", s.hidden_width_min, s.hidden_width_max, "int_log_uniform_values"
        )
    if base.model == BUILT_IN and base.dataset in IMAGES:
        dims["translation"] = _range("translation", s.translation_min, s.translation_max, "uniform")
    return dims


def space_of(base: TrainConfig, sweep: SweepConfig) -> Space:
    """The trial's dimensions: ``from_flags``, each replaced by the space file's entry of the
    same name (checked: ``check_dimension``); the file's other entries are the user's own."""
    dims = from_flags(base, sweep)
    own: list[Entry] = []
    for entry in entries(sweep.search_space):
        user_shape = entry.name in MLP_SHAPE and base.model != BUILT_IN
        if entry.name in DIMENSIONS and not user_shape:
            check_dimension(entry, sweep.search_space)
            dims[entry.name] = entry
        else:
            own.append(entry)
    return Space(dims, tuple(own))


def _is_int(v: Any, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _is_number(v: Any, ok: Callable[[float], bool]) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and ok(float(v))


# What each dimension's values must be: (integer only, the test of one value, the fix).
RULES: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "epochs": (True, lambda v: _is_int(v, 1), "{distribution: int_uniform, min: 10, max: 30}"),
    "batch_size": (True, lambda v: _is_int(v, 1), "{values: [32, 64, 128]}"),
    "hidden_layers": (True, lambda v: _is_int(v, 1), "{distribution: int_uniform, min: 1, max: 3}"),
    "hidden_width": (True, lambda v: _is_int(v, 1), "{values: [128, 256, 512]}"),
    "reduce_lr_patience": (True, lambda v: _is_int(v, 0), "{values: [0, 2]}"),
    "learning_rate": (False, lambda v: _is_number(v, lambda x: x > 0), "{value: 0.001}"),
    "sgd_learning_rate": (False, lambda v: _is_number(v, lambda x: x > 0), "{value: 0.05}"),
    "dropout": (False, lambda v: _is_number(v, lambda x: 0 <= x < 1), "{min: 0, max: 0.3}"),
    "translation": (False, lambda v: _is_number(v, lambda x: 0 <= x < 0.5), "{min: 0, max: 0.1}"),
    "l2": (False, lambda v: _is_number(v, lambda x: x >= 0), "{value: 0}"),
    "optimizer": (False, lambda v: v in OPTIMIZERS, "{values: [adam, rmsprop]}"),
    "batch_norm": (False, lambda v: isinstance(v, bool), "{value: true}"),
}


def check_dimension(entry: Entry, path: str) -> None:
    """Refuse a space file's entry for a dimension whose values the dimension cannot take."""
    integer, ok, example = RULES[entry.name]
    ranged = entry.distribution not in ("categorical", "constant")
    values = (entry.low, entry.high) if ranged else entry.values
    if ranged and integer:
        values = tuple(int(v) for v in values) if entry.distribution in INTEGER else (0.5,)
    if ranged and entry.name in ("optimizer", "batch_norm"):
        values = (None,)
    if not all(ok(v) for v in values):
        raise ConfigError(
            "search_space", path, f"entry {entry.name!r} cannot take {values!r}",
            f"give e.g. {entry.name}: {example}",
        )  # fmt: skip
