"""Models registered by `main` and by `sweep` on four datasets, and the data as users hold it.

Each trained once per test session, when a test first asks for it, into a tracking store of
their own (``tests/pipelines_tests/conftest.py``: fixture ``zoo``), through the command lines a
user runs: ``pipelines.train`` and ``pipelines.sweep`` (one trial, promoted to ``@champion``),
small and fast (MNIST on 2 000 training rows, 3 epochs).

The data, as a user has it: MNIST as ``keras.datasets`` gives it (uint8 images, 28 x 28),
sklearn's digits as ``load_digits().data`` (float64, 64 per row), and two CSVs read back with
``pd.read_csv`` (int64 and float64 columns, the label column still there): sklearn's wine with
the cultivar as ints 1-3, sklearn's diabetes with the disease progression (regression).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_ROWS = 40  # rows each client is given
MODELS = [f"{d}-{o}" for d in ("mnist", "digits", "wine", "diabetes") for o in ("main", "sweep")]
# In the default suite: one model per dataset, by `main` and by `sweep`; the rest are slow.
DEFAULT = ("mnist-main", "digits-sweep", "wine-main", "diabetes-main")
FAST = ["--hidden-units", "32", "--seed", "3", "--batch-size", "32"]
TRAIN = ["--epochs", "3", "--learning-rate", "0.01"]
SWEEP = ["--n-trials", "1", "--epochs-min", "2", "--epochs-max", "3", "--pruner", "none",
         "--cv-folds", "0"]  # fmt: skip
SWEEP += ["--learning-rate-min", "0.005", "--learning-rate-max", "0.02"]


@dataclasses.dataclass(frozen=True)
class Data:
    """One dataset as users hold it."""

    name: str  # mnist | digits | wine | diabetes
    flags: list[str]  # the data flags of `main` and `sweep`
    rows: Any  # np.ndarray (pixels) or pd.DataFrame (a CSV as read, label included)
    targets: np.ndarray  # the labels or numbers, as users hold them
    label: str = ""  # the label column of a CSV
    regression: bool = False

    @property
    def features(self) -> Any:
        """The rows without the label: what a client sends."""
        return self.rows.drop(columns=self.label) if self.label else self.rows

    def write_csv(self, path: Path) -> Path:
        """The rows as a CSV, as `mlflow models predict -t csv` reads it (header row, no index)."""
        frame = self.rows if self.label else pd.DataFrame(self.rows.reshape(len(self.rows), -1))
        frame.to_csv(path, index=False)
        return path


@dataclasses.dataclass(frozen=True)
class Registered:
    data: Data
    origin: str  # main | sweep
    uri: str

    @property
    def id(self) -> str:
        return f"{self.data.name}-{self.origin}"


class Zoo:
    """The models by id ("digits-main", "wine-sweep"...), each trained on first use into the
    tracking store ``store`` (the caller points MLflow at it and runs from ``directory``)."""

    def __init__(self, store: str, directory: Path) -> None:
        self.store, self.directory = store, directory
        self.models: dict[str, Registered] = {}
        self._data: dict[str, Data] = {}

    def __getitem__(self, model_id: str) -> Registered:
        if model_id not in self.models:
            if not self._data:
                self._data = {d.name: d for d in datasets(self.directory)}
            name, origin = model_id.rsplit("-", 1)
            self.models[model_id] = build(self._data[name], origin)
        return self.models[model_id]


def model_params(ids: list[str] = MODELS) -> list[Any]:
    """``ids`` as pytest params, those outside ``DEFAULT`` marked slow."""
    import pytest

    return [pytest.param(m, marks=() if m in DEFAULT else pytest.mark.slow) for m in ids]


def wine_csv(path: Path) -> Path:
    """sklearn's wine as a user's CSV: 13 named columns (two of whole numbers, one with a '/'),
    the label `cultivar` as ints 1-3, as in the UCI file."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame = frame.astype({"magnesium": "int64", "proline": "int64"})
    frame["cultivar"] = frame.pop("target") + 1
    frame.to_csv(path, index=False)
    return path


def diabetes_csv(path: Path) -> Path:
    """sklearn's diabetes, unscaled, as a user's CSV: age and sex whole numbers, `progression`."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.astype({"age": "int64", "sex": "int64"}).rename(columns={"target": "progression"})
    frame.to_csv(path, index=False)
    return path


def datasets(directory: Path) -> list[Data]:
    from sklearn.datasets import load_digits

    from tracking.data import mnist as _mnist_offline
    from tracking.data.datasets import _default_cache_dir

    mnist, _ = _mnist_offline.load_mnist(_default_cache_dir())
    images = mnist.x_test[:N_ROWS].reshape(-1, 28, 28)  # uint8, as keras.datasets has them
    digits = load_digits()
    wine = wine_csv(directory / "wine.csv")
    diabetes = diabetes_csv(directory / "diabetes.csv")
    wine_rows = pd.read_csv(wine).sample(N_ROWS, random_state=0)  # all three cultivars
    diabetes_rows = pd.read_csv(diabetes).head(N_ROWS)
    return [
        Data("mnist", ["--dataset", "mnist", "--max-train-samples", "2000"], images,
             mnist.y_test[:N_ROWS].astype(np.uint8)),
        Data("digits", ["--dataset", "digits"], digits.data[:N_ROWS], digits.target[:N_ROWS]),
        Data("wine", ["--dataset", "csv", "--data-path", str(wine), "--label-column",
                      "cultivar"], wine_rows, wine_rows["cultivar"].to_numpy(), "cultivar"),
        Data("diabetes", ["--dataset", "csv", "--data-path", str(diabetes), "--label-column",
                          "progression", "--task", "regression"], diabetes_rows,
             diabetes_rows["progression"].to_numpy(), "progression", regression=True),
    ]  # fmt: skip


def build(data: Data, origin: str) -> Registered:
    """Train on ``data`` and register it as ``<data>-<origin>``, as a user does: `main`, or a
    one-trial `sweep` that promotes its winner to ``@champion``."""
    from pipelines.sweep import main as sweep
    from pipelines.train import main as train

    name = f"{data.name}-{origin}"
    if origin == "main":
        assert train([*data.flags, *FAST, *TRAIN, "--registered-model-name", name]) == 0
        return Registered(data, origin, f"models:/{name}/1")
    flags = [*data.flags, *FAST, *SWEEP, "--registered-model-name", name, "--study-name", name]
    assert sweep(flags) == 0
    return Registered(data, origin, f"models:/{name}@champion")


class Reference:
    """What the native Keras model (``mlflow.tensorflow.load_model``) says when fed float32 by
    hand, in its training column order: the labels or numbers a client must get back."""

    def __init__(self, model: Registered) -> None:
        import mlflow.tensorflow
        from mlflow.models import get_model_info

        self.model = model
        self.metadata = get_model_info(model.uri).metadata
        self.keras = mlflow.tensorflow.load_model(model.uri)

    def __call__(self, rows: Any | None = None) -> np.ndarray:
        rows = self.model.data.features if rows is None else rows
        columns = self.metadata["input"].get("columns")
        x = rows[columns] if columns and isinstance(rows, pd.DataFrame) else rows
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        out = self.keras.predict(x, verbose=0)
        if self.model.data.regression:
            return out.ravel()
        return np.asarray(self.metadata["classes"])[out.argmax(axis=1)]
