"""One SQLite set-up for the stores many processes write to: MLflow's and Optuna's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tracking.config.errors import ConfigError
from tracking.door.sqlite import share_sqlite, sqlite_path
from tracking.sweep.storage import open_storage


def _journal(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_sqlite_file_is_switched_to_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    sqlite3.connect(path).close()
    assert _journal(path) == "delete"  # SQLite's default
    assert share_sqlite(f"sqlite:///{path}?timeout=5") == path
    assert _journal(path) == "wal"  # kept in the file, for every later connection


def test_other_urls_are_left_alone() -> None:
    for url in ("sqlite:///:memory:", "sqlite://", "postgresql://u@h/db", "http://x:5000"):
        assert sqlite_path(url) is None and share_sqlite(url) is None


def test_the_sweep_storage_uses_it_and_refuses_a_missing_folder(tmp_path: Path) -> None:
    open_storage(f"sqlite:///{tmp_path}/optuna.db")
    assert _journal(tmp_path / "optuna.db") == "wal"
    with pytest.raises(ConfigError, match="names a folder that does not exist"):
        open_storage(f"sqlite:///{tmp_path}/nowhere/optuna.db")
