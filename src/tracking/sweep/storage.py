"""Open the Optuna storage a sweep names, so a bad URL fails before anything else is created.

Optuna and SQLAlchemy only: the entry point calls this before TensorFlow is imported.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna

from tracking.errors import ConfigError


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Connect to the Optuna storage now, so a bad URL fails before anything else is created."""
    kwargs: dict[str, Any] = {}
    if not url.startswith("sqlite"):  # heartbeats: a killed worker's trial ends FAIL, not RUNNING
        kwargs = {"heartbeat_interval": 60, "grace_period": 180}
    if url.startswith(("postgresql", "mysql")):  # an unreachable host fails in 10 s, not minutes
        kwargs["engine_kwargs"] = {"connect_args": {"connect_timeout": 10}}
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" since v2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as error:
        text = str(error).strip()
        reason = text.splitlines()[0][:200] if text else ""
        fix = "check the URL and that the database is running, e.g. -P storage=sqlite:///optuna.db"
        raise ConfigError(
            "storage", url, f"cannot be opened ({type(error).__name__}: {reason})", fix
        ) from None
