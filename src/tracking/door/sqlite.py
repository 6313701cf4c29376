"""A SQLite store that several processes write to: MLflow's tracking store and Optuna's storage.

Write-ahead logging lets readers and one writer work at once (it is stored in the file, so one
switch serves every later connection), and a writer waits ``BUSY_TIMEOUT`` seconds for another
instead of failing with "database is locked". Standard library only: the sweep's storage uses it
before anything heavy is imported.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

BUSY_TIMEOUT = 60  # seconds a writer waits for another one


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names; None for another URL or an in-memory database."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?")[0]
    return None if path in ("", ":memory:") else Path(path)


def share_sqlite(url: str) -> Path | None:
    """Switch the SQLite file ``url`` names to write-ahead logging; its path, or None (nothing
    done) when ``url`` names no SQLite file."""
    path = sqlite_path(url)
    if path is None:
        return None
    connection = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path
