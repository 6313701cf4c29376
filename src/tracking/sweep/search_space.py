"""Your own hyperparameters to search: ``-P search_space=space.yaml``, in W&B sweep form.

    parameters:
      filters: {values: [8, 16, 32]}
      kernel_size: {distribution: int_uniform, min: 3, max: 5}
      width: {distribution: log_uniform_values, min: 0.0001, max: 0.1}

An entry is ``values`` (a list of choices, ``suggest_categorical``), ``value`` (fixed, not
searched), or a ``distribution`` with ``min`` and ``max``: ``int_uniform`` (``suggest_int``),
``uniform`` (``suggest_float``), ``log_uniform_values`` (``suggest_float(log=True)``) or
``categorical`` (with ``values``); ``int_log_uniform_values`` is ``suggest_int(log=True)``. An
optional ``default`` is the base trial's value. An entry may also name one of the sweep's own
dimensions (``tracking.sweep.dimensions``: ``epochs``, ``optimizer``, ``hidden_layers``...) to
narrow or fix it. The file is read with PyYAML only, so a bad file or entry is refused before
TensorFlow or a run exists.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tracking.config.errors import ConfigError

# The sweep's own dimensions (tracking.sweep.dimensions draws them): a space file may narrow or
# fix each; every model has the first ones, the built-in MLP the others.
EVERY_MODEL = (
    "epochs",
    "batch_size",
    "learning_rate",
    "sgd_learning_rate",
    "dropout",
    "l2",
    "reduce_lr_patience",
)
BUILT_IN_ONLY = ("optimizer", "batch_norm", "hidden_layers", "hidden_width", "translation")
DIMENSIONS = EVERY_MODEL + BUILT_IN_ONLY

DISTRIBUTIONS = (
    "int_uniform",
    "uniform",
    "log_uniform_values",
    "int_log_uniform_values",
    "categorical",
    "constant",
)
INTEGER = ("int_uniform", "int_log_uniform_values")
EXAMPLE = "e.g. filters: {values: [8, 16, 32]} or width: {distribution: uniform, min: 0, max: 1}"
_KEYS = {"distribution", "values", "value", "min", "max", "default"}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One hyperparameter of the space: its name, how it is drawn, and the base trial's value."""

    name: str
    distribution: str  # one of DISTRIBUTIONS
    values: tuple[Any, ...] = ()  # categorical choices, or the constant's one value
    low: float = 0.0
    high: float = 0.0
    default: Any = None

    def suggest(self, trial: Any) -> Any:
        """The trial's value, drawn with Optuna's ``trial.suggest_*`` (a constant is not)."""
        if self.distribution == "constant":
            return self.values[0]
        if self.distribution == "categorical":
            return trial.suggest_categorical(self.name, list(self.values))
        log = self.distribution in ("log_uniform_values", "int_log_uniform_values")
        if self.distribution in INTEGER:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=log)

    def base_value(self, given: Any = None) -> Any:
        """The base trial's value: ``given`` (from ``-P params``) brought into the space, else
        ``default``, else the first choice (the nearest one for a number), or the middle of a
        range (geometric for log)."""
        value = self.default if given is None else given
        if self.distribution in ("categorical", "constant"):
            return value if _among(value, self.values) else _nearest(value, self.values)
        if value is None:
            if self.distribution in ("log_uniform_values", "int_log_uniform_values"):
                value = math.sqrt(self.low * self.high)
            else:
                value = (self.low + self.high) / 2
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return self.low
        value = min(max(value, self.low), self.high)
        return round(value) if self.distribution in INTEGER else float(value)


def _among(value: Any, choices: tuple[Any, ...]) -> bool:
    """``value in choices`` where True is not 1 (a batch_norm choice is not a batch size)."""
    return any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices)


def _nearest(value: Any, choices: tuple[Any, ...]) -> Any:
    """The choice nearest ``value`` when both are numbers (the smaller on a tie), else the
    first choice."""
    numbers = [c for c in choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not numbers:
        return choices[0]
    return min(numbers, key=lambda c: (abs(c - value), c))


def entries(path: str) -> tuple[Entry, ...]:
    """``load_space`` refusing the names a run already has (TrainConfig's and the data's),
    except the sweep's own dimensions, which an entry narrows or fixes."""
    from tracking.config.model_function import RESERVED
    from tracking.config.train import TrainConfig

    taken = (RESERVED | {f.name for f in dataclasses.fields(TrainConfig)}) - set(DIMENSIONS)
    return load_space(path, frozenset(taken))


def load_space(path: str, taken: frozenset[str] = frozenset()) -> tuple[Entry, ...]:
    """The entries of the file at ``path`` (``()`` for ``""``); raise ConfigError naming the
    file, the entry and the fix on anything else, or on a name in ``taken`` (built-ins)."""
    if not str(path).strip():
        return ()
    file = Path(path).expanduser()

    def bad(problem: str, fix: str) -> ConfigError:
        return ConfigError("search_space", path, problem, fix)

    if not file.is_file():
        where = "a directory" if file.exists() else "a file that does not exist"
        raise bad(f"names {where} ({file.resolve()})", "pass the path of a YAML file, " + EXAMPLE)
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        reason = " ".join(str(getattr(error, "problem", None) or error).split())
        raise bad(f"is not valid YAML{at} ({reason})", "fix the file's YAML syntax") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("parameters"), Mapping):
        raise bad(
            "has no 'parameters:' mapping", "write parameters: with one entry per name, " + EXAMPLE
        )
    other = sorted(str(k) for k in document if k != "parameters")
    if other:
        raise bad(
            f"has top-level key {other[0]!r}, which the sweep does not read",
            "keep only parameters: (the sampler, metric and trial count are -P parameters)",
        )
    parameters = document["parameters"]
    if not parameters:
        raise bad("has no entry under parameters:", "add at least one, " + EXAMPLE)
    return tuple(_entry(str(name), spec, bad, taken) for name, spec in parameters.items())


def _entry(name: str, spec: Any, bad: Any, taken: frozenset[str]) -> Entry:
    if name in taken:
        raise bad(
            f"entry {name!r} is a built-in parameter",
            "search the sweep's dimensions instead (docs/sweeps.md: hidden_layers and "
            "hidden_width make hidden_units), or rename your own",
        )
    if not name.isidentifier():
        raise bad(f"entry {name!r} is not a Python name", "use letters, digits and _ only")
    if not isinstance(spec, Mapping):
        raise bad(f"entry {name!r} is {spec!r}, not a mapping", EXAMPLE)
    unknown = sorted(str(k) for k in spec if k not in _KEYS)
    if unknown:
        raise bad(
            f"entry {name!r} has unknown key {unknown[0]!r}", f"use {', '.join(sorted(_KEYS))}"
        )
    default = spec.get("default")
    if "value" in spec:
        return Entry(name, "constant", (_choice(name, spec["value"], bad),), default=default)
    kind = spec.get("distribution", "categorical" if "values" in spec else None)
    if kind not in DISTRIBUTIONS:
        raise bad(
            f"entry {name!r} has {'no' if kind is None else 'unknown'} distribution"
            + ("" if kind is None else f" {kind!r}"),
            f"use values: [...] or distribution: one of {', '.join(DISTRIBUTIONS[:3])}",
        )
    if kind == "constant":
        raise bad(f"entry {name!r} is constant but has no value", f"give {name}: {{value: 32}}")
    if kind == "categorical":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise bad(
                f"entry {name!r} has no values (empty or missing)",
                f"give e.g. {name}: {{values: [8, 16, 32]}}",
            )
        choices = tuple(dict.fromkeys(_choice(name, v, bad) for v in values))
        return Entry(name, "categorical", choices, default=default)
    low, high = _bounds(name, kind, spec, bad)
    return Entry(name, kind, (), low, high, default)


def _bounds(name: str, kind: str, spec: Mapping[str, Any], bad: Any) -> tuple[float, float]:
    """A range entry's min and max: numbers (whole for the integer kinds), min <= max, min > 0
    on a log scale."""
    low, high = spec.get("min"), spec.get("max")
    for key, bound in (("min", low), ("max", high)):
        if (
            not isinstance(bound, (int, float))
            or isinstance(bound, bool)
            or not math.isfinite(bound)
        ):
            raise bad(
                f"entry {name!r} has {key}={bound!r}, not a number",
                f"give {name}: {{distribution: {kind}, min: ..., max: ...}}",
            )
        if kind in INTEGER and not float(bound).is_integer():
            raise bad(
                f"entry {name!r} has {key}={bound!r}, not an integer",
                f"{kind} takes whole min and max, or use uniform",
            )
    assert isinstance(low, (int, float)) and isinstance(high, (int, float))
    if low > high:
        raise bad(
            f"entry {name!r} has min={low!r} above max={high!r}",
            f"swap them: min: {high}, max: {low}",
        )
    if kind in ("log_uniform_values", "int_log_uniform_values") and low <= 0:
        raise bad(
            f"entry {name!r} has min={low!r} on a log scale", "give min > 0, e.g. min: 0.0001"
        )
    return low, high


def _choice(name: str, value: Any, bad: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise bad(
        f"entry {name!r} has choice {value!r}", "choices are numbers, text, true/false or null"
    )
