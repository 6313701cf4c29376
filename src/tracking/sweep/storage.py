"""Open the Optuna storage a sweep names, safely for many workers, before anything heavy loads.

- ``sqlite:///optuna.db`` (the default): switched to write-ahead logging with a 60 s busy
  timeout (``tracking.door.sqlite``, as MLflow's SQLite store is), so the worker processes of
  ``-P workers=N`` write to one file without "database is locked" errors
  (``benchmarks/workers.py`` and ``tests/pipelines_tests/test_scale_out.py``).
- ``postgresql://...``: Optuna's ``CREATE TABLE`` is not atomic across sessions (workers started
  at the same instant on a fresh database fail with ``UniqueViolation ...
  pg_type_typname_nsp_index``), so the schema is created under a PostgreSQL advisory lock.
- ``grpc://host:port``: Optuna's gRPC storage proxy (``python -m pipelines.storage_proxy``), for
  hundreds of workers in front of one database, with heartbeats of our own
  (``tracking.sweep.heartbeat``).

Optuna and SQLAlchemy only (no TensorFlow, MLflow or pandas). Errors never show a password.
"""

from __future__ import annotations

import fcntl
import hashlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import optuna
import sqlalchemy
from sqlalchemy.pool import NullPool

from tracking.config.errors import ConfigError
from tracking.door.sqlite import BUSY_TIMEOUT, share_sqlite, sqlite_path
from tracking.sweep.config import SweepConfig
from tracking.sweep.faults import StaleTrials
from tracking.sweep.heartbeat import HeartbeatProxy
from tracking.sweep.proxy_lock import proxy_lock

CONNECT_TIMEOUT = 10  # seconds: an unreachable database fails fast, not after minutes
# One advisory-lock key for everything this project serialises in a PostgreSQL database.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"tracking.sweep.storage").digest()[:8], "big") >> 1
FIX = "check the URL and that the database is running, e.g. -P storage=sqlite:///optuna.db"


def open_storage(
    url: str, *, heartbeat_interval: int | None = None, grace_period: int | None = None
) -> optuna.storages.BaseStorage:
    """Connect to the Optuna storage now, so a bad URL fails before anything else is created.

    With ``heartbeat_interval``, the storage records a heartbeat for every running trial (in the
    database, or as a trial system attr through the gRPC proxy); one silent for ``grace_period``
    seconds is failed and retried (``tracking.sweep.faults``).
    """
    try:
        if url.startswith("grpc://"):
            return _grpc_proxy(url, heartbeat_interval, grace_period)
        kwargs: dict[str, Any] = {}
        if heartbeat_interval:
            kwargs.update(
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=StaleTrials(),
            )
        if url.startswith("sqlite:///"):
            _sqlite_wal(url)
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": BUSY_TIMEOUT}}
        elif url.startswith(("postgresql", "mysql")):
            kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
        with warnings.catch_warnings(), study_lock(url):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, **kwargs)
    except ConfigError:
        raise
    except Exception as error:
        text = str(error).strip()
        reason = text.splitlines()[0][:200] if text else ""
        problem = f"cannot be opened ({type(error).__name__}: {reason})"
        raise ConfigError("storage", url, problem, FIX) from None


@contextmanager
def study_lock(url: str) -> Iterator[None]:
    """A lock shared by every worker of the storage at ``url``, on any machine.

    PostgreSQL: a session advisory lock (released when the connection closes, so a killed
    holder never leaves it taken). SQLite: ``flock`` on a ``.lock`` file beside the database. The
    gRPC proxy: a study of its own that the holder creates and deletes
    (``tracking.sweep.proxy_lock``). Other storages: no lock.
    """
    if url.startswith("postgresql"):
        engine = sqlalchemy.create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT}
        )
        try:
            with engine.connect() as connection:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
                try:
                    yield
                finally:
                    unlock = sqlalchemy.text("SELECT pg_advisory_unlock(:k)")
                    connection.execute(unlock, {"k": LOCK_KEY})
        finally:
            engine.dispose()
    elif (path := sqlite_path(url)) is not None:
        with open(f"{path}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or the holder dies
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif url.startswith("grpc://"):
        parts = urlsplit(url)
        with proxy_lock(str(parts.hostname), int(parts.port or 0)):
            yield
    else:
        yield


def _sqlite_wal(url: str) -> None:
    """Write-ahead logging (``tracking.door.sqlite``), in a folder that exists."""
    path = sqlite_path(url)
    if path is not None and not path.parent.is_dir():
        problem = f"names a folder that does not exist ({path.parent})"
        raise ConfigError("storage", url, problem, FIX)
    share_sqlite(url)


def _grpc_proxy(
    url: str, heartbeat_interval: int | None, grace_period: int | None
) -> optuna.storages.BaseStorage:
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ConfigError("storage", url, "needs a host and a port", "pass e.g. grpc://host:13000")
    proxy: optuna.storages.GrpcStorageProxy
    if heartbeat_interval:
        proxy = HeartbeatProxy(
            host=parts.hostname,
            port=parts.port,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=StaleTrials(),
        )
    else:
        proxy = optuna.storages.GrpcStorageProxy(host=parts.hostname, port=parts.port)
    try:
        proxy.wait_server_ready(timeout=CONNECT_TIMEOUT)
    except ConnectionError:
        proxy.close()
        raise ConfigError(
            "storage",
            url,
            f"no storage proxy answers there within {CONNECT_TIMEOUT} s",
            "start it with: python -m pipelines.storage_proxy --storage <database URL>",
        ) from None
    return proxy


def open_sweep_storage(sweep: SweepConfig) -> optuna.storages.BaseStorage:
    """The storage of ``sweep``, with its heartbeat settings."""
    return open_storage(
        sweep.storage, heartbeat_interval=sweep.heartbeat_interval, grace_period=sweep.grace_period
    )


def stale_trials(storage: optuna.storages.BaseStorage) -> StaleTrials | None:
    """The storage's handler of dead workers' trials, if it has heartbeats."""
    handler = getattr(storage, "heartbeat_stale_trial_callback", None)
    return handler if isinstance(handler, StaleTrials) else None
