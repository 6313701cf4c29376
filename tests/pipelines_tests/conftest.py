"""The registered models the client tests share: trained once per session, on first use
(tests/registered_models.py); the servers the fault and scale-out tests start."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import mlflow
import pytest

from tests.browser import Server, free_port, listening, mlflow_server, project_env, serve
from tests.helpers import wait_until
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


@pytest.fixture
def tracking_server(tmp_path: Path) -> Callable[[str], AbstractContextManager[Server]]:
    """``with tracking_server(backend) as server``: a real ``mlflow server`` on a free loopback
    port over ``backend`` (a SQLite URL or a PostgreSQL database), artifacts in ``tmp_path``,
    healthy inside the block; its process group is ended when the block is left."""

    def start(backend: str) -> AbstractContextManager[Server]:
        command = mlflow_server(backend, tmp_path / "artifacts")
        env = project_env(f"sqlite:///{tmp_path}/unused.db")
        return serve("mlflow-server", command, health="/health", cwd=tmp_path, env=env)

    return start


@pytest.fixture
def storage_proxy(tmp_path: Path) -> Callable[[str, dict[str, str]], AbstractContextManager[str]]:
    """``with storage_proxy(storage, env) as url``: Optuna's gRPC storage proxy
    (``python -m pipelines.storage_proxy``) in front of ``storage`` on a free port, listening
    (its tables created) inside the block, at ``url`` (``grpc://...``); stopped with Ctrl-C
    when the block is left."""

    @contextlib.contextmanager
    def start(storage: str, env: dict[str, str]) -> Iterator[str]:
        port = free_port()
        command = [sys.executable, "-m", "pipelines.storage_proxy", "--storage", storage,
                   "--port", str(port)]  # fmt: skip
        proxy = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: listening(port) or proxy.poll() is not None, 120, "the proxy")
            assert proxy.poll() is None, f"the storage proxy exited {proxy.returncode}"
            yield f"grpc://127.0.0.1:{port}"
        finally:
            proxy.send_signal(signal.SIGINT)
            proxy.wait(30)

    return start
