"""Outside CI, a test that needs PostgreSQL or Chromium is skipped in one line that says how to
get what is missing, and every run ends with the list of what was skipped (``-rfEs``); under CI
(env ``CI`` set) the same tests fail instead."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests import browser
from tests.conftest import connect_postgres


def test_every_run_lists_what_was_skipped_and_why(request: pytest.FixtureRequest) -> None:
    # pyproject.toml's addopts: the short summary at the end names each skip and its reason,
    # besides pytest's default failures and errors.
    assert set("fEs") <= set(request.config.option.reportchars)


def test_no_postgres_skips_with_the_command_that_starts_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://postgres:pw@127.0.0.1:{browser.free_port()}/postgres"  # nothing there
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        connect_postgres(url)
    message = str(skipped.value)
    assert "\n" not in message
    # Which server (password masked), why, and how to get one.
    assert message.startswith(f"no PostgreSQL at {url.replace(':pw@', ':***@')} (")
    assert "Connection refused" in message and "`.ci/run`" in message
    assert re.search(r"`pg_ctlcluster \d+ main start`|apt-get install postgresql", message)
    # Under CI the test fails instead.
    monkeypatch.setenv("CI", "true")
    with pytest.raises(psycopg.OperationalError):
        connect_postgres(url)


def test_no_chromium_skips_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHROMIUM", f"{tmp_path}/no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        browser.require_chromium()
    message = str(skipped.value)
    assert "\n" not in message
    assert message.startswith(f"no headless Chromium (CHROMIUM='{tmp_path}/no-chromium'")
    assert "`apt-get install chromium`" in message
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        browser.require_chromium()
