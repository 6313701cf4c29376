"""Every test gets its own SQLite tracking store and working directory in tmp_path."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# The Ctrl-C tests send SIGINT to the processes they start. A shell script's background job
# (`make test &`) runs with SIGINT ignored, and its children inherit that: Python then never
# raises KeyboardInterrupt. A handler of our own is reset to the default in each child.
signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]


# The test files that share the registered models (fixture ``zoo``,
# tests/pipelines_tests/conftest.py): in one process, they are trained once.
SHARED_MODELS = ("test_clients.py", "test_clients_cli.py", "test_clients_rest.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For ``make test``'s ``pytest -n 2 --dist loadfile``: a test file per process, as
    pytest-xdist's ``loadfile`` does (its module fixtures are made once), and the files in
    ``SHARED_MODELS`` together. (``--dist loadgroup`` and ``xdist_group`` marks group nothing
    under pytest 9: pytest-xdist 3.8 renames ``item._nodeid``, which pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            file: str = super()._split_scope(nodeid)
            return "shared-models" if Path(file).name in SHARED_MODELS else file

    return Scheduling(config, log)


@pytest.fixture(scope="session")
def _migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite store with MLflow's schema migrations applied (about 1 s), copied per test."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "mlruns"))
    return path


@pytest.fixture(autouse=True)
def tracking_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _migrated_store: Path) -> str:
    import mlflow

    shutil.copy(_migrated_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


POSTGRES_ADMIN = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def connect_postgres(url: str = POSTGRES_ADMIN) -> Any:
    """An autocommit connection to the PostgreSQL server at ``url``. Without one the test fails
    under CI (env CI set) and is skipped elsewhere, in one line saying how to get a server."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(postgres_missing(url, error))


def postgres_missing(url: str, error: Exception) -> str:
    """One line: which server could not be reached, why, and how to get one."""
    from tracking.config.redact import redact

    # psycopg: 'connection failed: connection to server at "HOST", port N failed: WHY\n\tHint'
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    why = " ".join(first.rsplit("failed: ", 1)[-1].split())
    clusters = sorted(Path("/etc/postgresql").glob("*/main"))
    if not any(word in why.lower() for word in ("refused", "timeout", "no such file")):
        how = "let user postgres in without a password (trust), as `.ci/run` does"
    elif clusters:  # Debian's postgresql is installed, its cluster stopped
        how = f"start it with `pg_ctlcluster {clusters[-1].parent.name} main start` or `.ci/run`"
    else:
        how = "install and start it with `.ci/run` (apt-get install postgresql)"
    return (
        f"no PostgreSQL at {redact(url)} ({why}): {how}; "
        "TEST_POSTGRES_URL points the tests at another server"
    )


@pytest.fixture
def postgres_db() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases (``postgresql://.../t_<random>``), each dropped
    after the test. The machine's server (127.0.0.1:5432, user postgres, trust auth) is real;
    without it the test fails in CI and is skipped elsewhere (``connect_postgres``)."""
    admin = connect_postgres()
    created: list[str] = []

    def create() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    yield create
    for name in created:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
