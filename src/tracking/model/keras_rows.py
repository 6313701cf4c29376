"""The ``python_function`` face of a logged Keras model: rows as users hold them in, labels out.

Shipped inside every logged model as code (``code/keras_rows.py``, the loader module of its
``python_function`` flavour), so it imports only what the model's pip requirements install
(numpy, pandas, mlflow, keras/tensorflow), never the ``tracking`` package. The model's
``tensorflow`` flavour is MLflow's own: ``mlflow.tensorflow.load_model`` gives the Keras model.

What ``predict`` takes is written in the model's metadata (``input``):
- ``columns`` (a CSV model): a DataFrame, a dict of columns, a list of records or one row as a
  Series, columns matched by name in any order, other columns (such as the label) ignored; a
  plain array or list of rows holds the columns in that order;
- otherwise rows of values, positional: an array, DataFrame or nested list whose rows hold as
  many values as the model's per-row ``shape``, e.g. ``(n, 784)``, ``(n, 28, 28)`` or
  ``(n, 28, 28, 1)`` for a ``(784,)`` model; a single row may come without the first axis;
- any bool, int, unsigned or float dtype (numbers as text too), cast to ``dtype`` here.
The model has no input schema, so MLflow passes the data through untouched (a column or tensor
schema would make MLflow refuse int64 CSVs or anything but float32 arrays); bad input raises
``MlflowException(INVALID_PARAMETER_VALUE)`` naming the problem: HTTP 400 when served.

What it returns: a classifier, the class of each row as the training labels had it
(``classes``: ints 0-9 for digits, ``"bad"``/``"good"`` for text labels), or with
``params={"output": "probabilities"}`` a DataFrame with one column per class
(``class_names``); a regressor, one number per row. It predicts in batches, silently.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

OUTPUT = "output"  # the params switch of a classifier
LABELS, PROBABILITIES = "labels", "probabilities"
BATCH_SIZE = 1024
NUMERIC_KINDS = "biuf"  # bool, int, unsigned, float
NOT_NUMBERS = "cmMV"  # complex, timedelta, datetime, raw bytes: refused, not cast


def bad_input(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class KerasRows:
    """A Keras model behind ``predict(data, params)``, described by its MLflow metadata."""

    def __init__(self, model: Any, metadata: dict[str, Any]) -> None:
        described = metadata.get("input") or {}
        self.model = model
        self.columns: list[str] = [str(c) for c in described.get("columns", [])]
        self.shape: tuple[int | None, ...] = tuple(described.get("shape", ()))
        self.dtype = np.dtype(described.get("dtype", "float32"))
        self.classes = np.asarray(metadata.get("classes", []))
        self.class_names = [str(c) for c in metadata.get("class_names", self.classes.tolist())]

    def get_raw_model(self) -> Any:
        return self.model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        output = (params or {}).get(OUTPUT) or LABELS
        allowed = (LABELS, PROBABILITIES) if len(self.classes) else (LABELS,)
        if output not in allowed:
            raise bad_input(
                f"params {OUTPUT}={output!r} is not one of {', '.join(allowed)}"
                + ("" if len(self.classes) else " (this model is a regressor: one number per row)")
            )
        index = data.index if isinstance(data, pd.DataFrame) else None
        x = self.rows(data)
        if index is not None and len(index) != len(x):
            index = None
        if len(x) == 0:  # Keras refuses an empty batch
            outputs = np.zeros((0, max(len(self.classes), 1)), np.float32)
        else:
            outputs = np.asarray(self.model.predict(x, batch_size=BATCH_SIZE, verbose=0))
            outputs = outputs.reshape(len(x), -1)
        if not len(self.classes):
            return outputs[:, 0] if outputs.shape[1] == 1 else outputs
        if output == PROBABILITIES:
            return pd.DataFrame(outputs, columns=self.class_names, index=index)
        return self.classes[outputs.argmax(axis=1)]

    # --- input --------------------------------------------------------------------------------

    def rows(self, data: Any) -> np.ndarray:
        """``data`` as an array of shape ``(n, *shape)`` in the model's dtype."""
        if isinstance(data, dict):
            if self.columns or len(data) != 1:
                data = pd.DataFrame({k: np.asarray(v).reshape(-1) for k, v in data.items()})
            else:  # one named tensor, e.g. {"inputs": {"pixels": [[...], ...]}} over REST
                data = next(iter(data.values()))
        if isinstance(data, list) and data and isinstance(data[0], dict):
            data = pd.DataFrame(data)  # records
        if isinstance(data, pd.Series):  # one row, e.g. frame.iloc[0]
            data = data.to_frame().T
        if isinstance(data, pd.DataFrame):
            values = self._frame_values(data)
        else:
            try:
                values = np.asarray(data)
            except ValueError as error:  # ragged nested lists
                raise bad_input(f"could not read the rows as an array ({error})") from None
            values = self._numbers(values, "the input")
        self._refuse_missing(values)
        return self._shaped(values)

    def _refuse_missing(self, values: np.ndarray) -> None:
        """An empty cell (NaN) would make every probability NaN and the label the first class."""
        if values.dtype.kind != "f" or values.ndim == 0 or values.size == 0:
            return
        missing = np.isnan(values.reshape(len(values), -1))
        if not missing.any():
            return
        rows = np.flatnonzero(missing.any(axis=1))
        where = f"{len(rows)} row(s), the first at position {rows[0]}"
        if self.columns and missing.shape[1] == len(self.columns):
            where += f", in column {self.columns[int(missing[rows[0]].argmax())]!r}"
        raise bad_input(f"missing values (NaN) in {where}; fill them or drop those rows")

    def _frame_values(self, frame: pd.DataFrame) -> np.ndarray:
        if self.columns:
            frame = self._select(frame)
        try:
            return frame.to_numpy(dtype=self.dtype)
        except (TypeError, ValueError) as error:
            for column in frame.columns:  # name the culprit
                self._numbers(frame[column].to_numpy(), f"column {column!r}")
            raise bad_input(f"could not read the rows as numbers ({error})") from None

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's columns by name, in its order (names compared as text)."""
        by_name = {str(c): c for c in frame.columns}
        missing = [c for c in self.columns if c not in by_name]
        if missing:
            shown = ", ".join(repr(c) for c in missing[:5]) + (", ..." if len(missing) > 5 else "")
            hint = ""
            if len(frame.columns) == 1 and re.search(r"[;\t]", str(frame.columns[0])):
                hint = (
                    "; the rows look separated by ';' or tabs: MLflow reads CSV with ',' only "
                    "(pd.read_csv(path, sep=None, engine='python').to_csv(new_path, index=False))"
                )
            raise bad_input(
                f"missing column{'s' if len(missing) > 1 else ''} {shown}: the model takes "
                f"{len(self.columns)} named columns ({', '.join(self.columns)}), in any order; "
                f"got {', '.join(map(str, list(frame.columns)[:8]))}"
                + (", ..." if len(frame.columns) > 8 else "")
                + hint
            )
        return frame[[by_name[c] for c in self.columns]]

    def _numbers(self, values: np.ndarray, what: str) -> np.ndarray:
        if values.dtype.kind in NUMERIC_KINDS:
            return values.astype(self.dtype, copy=False)
        if values.dtype.kind in NOT_NUMBERS:
            raise bad_input(
                f"{what} holds values that are not numbers ({values.dtype}); the model takes "
                "numbers of any int or float dtype"
            )
        try:
            return values.astype(self.dtype)
        except (TypeError, ValueError) as error:
            raise bad_input(
                f"{what} holds values that are not numbers ({error}); the model takes numbers "
                f"of any int or float dtype"
            ) from None

    def _shaped(self, values: np.ndarray) -> np.ndarray:
        if not self.shape or any(d is None for d in self.shape):
            return values
        shape = tuple(int(d or 0) for d in self.shape)
        per_row, wanted = math.prod(values.shape[1:]), math.prod(shape)
        if values.ndim and per_row != wanted and values.size == wanted:
            values = values.reshape((1, *shape))  # one row without the first axis: an image
            per_row = wanted
        if values.ndim == 0 or per_row != wanted:
            got = (
                "a single value"
                if values.ndim == 0
                else (f"{per_row} values per row (rows of shape {values.shape[1:]})")
            )
            takes = (
                f"{wanted} columns ({', '.join(self.columns)})"
                if self.columns
                else f"{wanted} values per row (its input shape {shape}, or any row shape of "
                f"{wanted} values)"
            )
            raise bad_input(f"got {got}; the model takes {takes}")
        return values.reshape((len(values), *shape))


# --- loading ----------------------------------------------------------------------------------

# What TensorFlow's C++ side prints on stderr while it is imported, whatever
# TF_CPP_MIN_LOG_LEVEL says (absl's preamble, the oneDNN notice, the instruction-set advice).
TENSORFLOW_NOTICES = re.compile(
    r"absl::InitializeLog\(\) is called|\] oneDNN custom operations are on|cpu_feature_guard"
    r"|rebuild TensorFlow with the appropriate compiler flags"
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up notices filtered out of stderr (fd 2); every other
    line it writes there is passed on, after the import."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tensorflow_notices_filtered():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def tensorflow_notices_filtered() -> Iterator[None]:
    """Within the block, TensorFlow's C++ start-up notices (printed when it first loads or
    lists its devices) are filtered out of stderr (fd 2); every other line is passed on after."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(True) if not TENSORFLOW_NOTICES.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _load_pyfunc(path: str) -> KerasRows:
    """MLflow's entry point (``loader_module``): ``path`` is the model's directory."""
    import_tensorflow_quietly()
    import mlflow.tensorflow
    from mlflow.models import Model

    metadata = Model.load(os.path.join(path, "MLmodel")).metadata or {}
    return KerasRows(mlflow.tensorflow.load_model(path), dict(metadata))
