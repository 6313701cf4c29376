"""Parameters defined once: a dataclass field carries its help text, choices and bounds.

``param()`` builds such a field; ``check()`` validates any config dataclass from that metadata
and raises ConfigError naming the parameter, the value and the fix. The command line
(``pipelines/_cli.py``), the error messages and docs/parameters.md
(``pipelines/parameters_page.py``, checked with MLproject by ``tests/pipelines_tests/test_cli.py``)
all read the same metadata.
Standard library only: validation runs before anything heavy is imported.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tracking.config.errors import ConfigError


@dataclass(frozen=True)
class Spec:
    """What one parameter accepts. Bounds are inclusive unless ``above``/``below`` are used."""

    help: str
    choices: tuple[str, ...] = ()
    at_least: float | None = None
    above: float | None = None  # exclusive lower bound
    below: float | None = None  # exclusive upper bound
    int_list: bool = False  # a comma-separated list of positive integers ("300,200,100")
    example: str | None = None  # for the fix: "pass e.g. -P name=example"; default: the default


def param(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    int_list: bool = False,
    example: str | None = None,
) -> Any:
    """A dataclass field whose metadata says what the parameter accepts."""
    spec = Spec(help, choices, at_least, above, below, int_list, example)
    return dataclasses.field(default=default, metadata={"spec": spec})


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    spec = f.metadata.get("spec")
    if not isinstance(spec, Spec):
        raise TypeError(f"field {f.name!r} was not declared with tracking.config.params.param()")
    return spec


def specs(cls_or_config: Any) -> Iterator[tuple[dataclasses.Field[Any], Spec]]:
    for f in dataclasses.fields(cls_or_config):
        yield f, spec_of(f)


def fix_for(name: str, spec: Spec, default: Any) -> str:
    """``pass e.g. -P learning_rate=0.001`` (or the choices, for a parameter that has them)."""
    if spec.choices:
        return f"use one of {', '.join(spec.choices)}"
    example = spec.example if spec.example is not None else param_text(default)
    return f"pass e.g. -P {name}={example}"


def check(config: Any, only: Collection[str] | None = None) -> None:
    """Raise ConfigError on the first field of ``config`` (of ``only``, when given) outside what
    its Spec accepts."""
    for f, spec in specs(config):
        if only is not None and f.name not in only:
            continue
        value = getattr(config, f.name)
        problem = _problem(spec, value)
        if problem:
            raise ConfigError(f.name, value, problem, fix_for(f.name, spec, f.default))


def _problem(spec: Spec, value: Any) -> str | None:
    if spec.choices:
        return None if value in spec.choices else "is not supported"
    if spec.int_list:
        return None if positive_ints(value) else "is not a list of positive integers"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value):
        return "must be a finite number"
    low = spec.above if spec.above is not None else spec.at_least
    if low is not None and spec.below is not None:
        ok = (value > low if spec.above is not None else value >= low) and value < spec.below
        bracket = "(" if spec.above is not None else "["
        return None if ok else f"must be in {bracket}{_num(low)}, {_num(spec.below)})"
    if spec.above is not None and not value > spec.above:
        return f"must be greater than {_num(spec.above)}"
    if spec.at_least is not None and not value >= spec.at_least:
        return f"must be {_num(spec.at_least)} or greater"
    if spec.below is not None and not value < spec.below:
        return f"must be below {_num(spec.below)}"
    return None


def positive_ints(text: str) -> bool:
    """``"300,200,100"`` -> True: a non-empty comma-separated list of positive integers."""
    parts = str(text).split(",")
    return bool(text) and all(p.strip().isdigit() and int(p) > 0 for p in parts)


def param_text(value: Any) -> str:
    """A value as MLproject spells it: booleans lower-case (``-P batch_norm=true``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def parse_bool(text: str) -> bool:
    """``true``/``false`` as MLproject and the command line spell them (also 1/0, yes/no)."""
    lowered = str(text).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


KINDS: dict[str, Callable[[str], Any]] = {"bool": parse_bool, "int": int, "float": float}


def from_params(cls: type, params: Mapping[str, str]) -> Any:
    """An instance of the config dataclass ``cls`` from params as MLflow stores them (text);
    fields missing from ``params`` keep their defaults."""
    values = {
        f.name: KINDS.get(str(f.type), str)(params[f.name])
        for f in dataclasses.fields(cls)
        if f.name in params
    }
    return cls(**values)
