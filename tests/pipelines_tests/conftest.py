"""The registered models the client tests share: trained once per session, on first use
(tests/registered_models.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest

from tests.registered_models import Zoo


@pytest.fixture(scope="session")
def _zoo(tmp_path_factory: pytest.TempPathFactory, _migrated_store: Path) -> Zoo:
    directory = tmp_path_factory.mktemp("zoo")
    shutil.copy(_migrated_store, directory / "mlflow.db")
    return Zoo(f"sqlite:///{directory}/mlflow.db", directory)


@pytest.fixture
def zoo(_zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> Zoo:
    """The shared models' store as this test's tracking store, run from its directory (where
    a sweep's optuna.db lands); runs the test logs land there too."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _zoo.store)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", _zoo.store)
    monkeypatch.chdir(_zoo.directory)
    mlflow.set_tracking_uri(_zoo.store)
    mlflow.set_registry_uri(_zoo.store)
    return _zoo
