"""The model function a run builds its model with: ``-P model=<file.py or module>:<function>``.

A model function is called as ``function(params, input_shape, n_outputs)``: ``params`` a plain
dict of every hyperparameter of the run (the built-in ones and the user's own, ``-P params``),
``input_shape`` the shape of one raw example (``(784,)``, ``(28, 28, 1)``, ``(11,)``) and
``n_outputs`` the number of classes (1 for regression). It returns a Keras model, compiled or
not; ``tracking.model.build`` wraps the project's scaling around it and compiles it if needed. The
built-in MLP is one such function, ``tracking.model:mlp``.

Everything here but ``load_function`` is standard library only: a missing file, a function the
file does not define or bad JSON is refused before TensorFlow or a run exists.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracking.config.errors import ConfigError

BUILT_IN = "tracking.model:mlp"
# What a run logs besides its config (``Dataset.facts`` and the data source): the user's own
# hyperparameters cannot take these names.
RESERVED = frozenset(
    ("n_train", "n_val", "n_test", "n_classes", "n_features", "label_mean", "label_std")
    + ("data_source",)
)
MODEL_FIX = "pass -P model=path/to/file.py:function or module:function (e.g. examples/cnn.py:build)"


def split_spec(spec: str) -> tuple[str, str]:
    """``"examples/cnn.py:build"`` -> ``("examples/cnn.py", "build")``; raise on another form."""
    where, colon, function = str(spec).strip().rpartition(":")
    if not colon or not where or not function.isidentifier():
        raise ConfigError("model", spec, "is not <file.py or module>:<function>", MODEL_FIX)
    return where, function


def is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def short_name(spec: str) -> str:
    """What names the model in run and registered-model names: a file's stem (``cnn``), or a
    module's function (``mlp`` for the built-in one)."""
    where, function = split_spec(spec)
    return Path(where).stem if is_file(where) else function


def check_spec(spec: str) -> None:
    """Raise ConfigError unless ``spec`` names a file or module that defines the function.

    A file is read, not run: its top level must define the name (``def``, ``class``, an
    assignment or an import). A module is looked up without running it (its parent packages
    are imported).
    """
    where, function = split_spec(spec)
    if is_file(where):
        path = Path(where).expanduser()
        if not path.is_file():
            problem = "names a directory" if path.exists() else "names a file that does not exist"
            raise ConfigError(
                "model", spec, f"{problem} ({path.resolve()})", f"{MODEL_FIX}; paths are "
                f"relative to {Path.cwd()}"
            )  # fmt: skip
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, UnicodeDecodeError, SyntaxError) as error:
            raise ConfigError(
                "model", spec, f"could not be read as Python ({_one_line(error)})",
                f"fix {path.name} so that `python {path}` runs",
            ) from None  # fmt: skip
        if function not in _top_level_names(tree):
            defined = [
                n.name for n in tree.body
                if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
            ]  # fmt: skip
            raise ConfigError(
                "model", spec, f"names no function {function!r} in {path.name}",
                f"pass one of its functions: {', '.join(defined) or 'none is defined'}",
            )  # fmt: skip
        return
    try:
        found = importlib.util.find_spec(where)
    except (ImportError, ValueError) as error:
        found, why = None, f" ({_one_line(error)})"
    else:
        why = ""
    if found is None:
        raise ConfigError(
            "model", spec, f"names a module that cannot be imported{why}",
            f"{MODEL_FIX}; a module must be importable from {Path.cwd()}",
        )  # fmt: skip


def load_function(spec: str) -> Callable[..., Any]:
    """Import the file or module of ``spec`` (running it) and return its function."""
    where, function = split_spec(spec)
    try:
        if is_file(where):
            path = Path(where).expanduser().resolve()
            name = f"model_function_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except Exception as error:
        raise ConfigError(
            "model", spec, f"failed to import: {type(error).__name__}: {_one_line(error)}",
            "fix the error in that file or module (run it with python to see the traceback)",
        ) from error  # fmt: skip
    found = getattr(module, function, None)
    if not callable(found):
        raise ConfigError(
            "model", spec, f"names {'no' if found is None else 'a non-callable'} {function!r}",
            "pass a function defined as def function(params, input_shape, n_outputs)",
        )  # fmt: skip
    return found  # type: ignore[no-any-return]


def user_params(text: str, built_in: Any = None) -> dict[str, Any]:
    """``-P params`` as a dict (``{}`` for empty text); raise ConfigError on bad JSON, on
    anything but an object, or on a name the run already uses (``built_in``: a config
    dataclass whose fields are those names)."""
    if not str(text).strip():
        return {}
    fix = """pass a JSON object, e.g. -P params='{"filters": 32, "kernel_size": 3}'"""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError("params", text, f"is not valid JSON ({error})", fix) from None
    if not isinstance(value, dict):
        raise ConfigError("params", text, f"is a JSON {type(value).__name__}, not an object", fix)
    taken = RESERVED | {f.name for f in dataclasses.fields(built_in)} if built_in else RESERVED
    clash = sorted(k for k in value if k in taken)
    if clash:
        raise ConfigError(
            "params", text, f"sets {', '.join(clash)}, which the run already has",
            f"pass built-in ones as -P {clash[0]}=..., and give your own other names",
        )  # fmt: skip
    return value


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
