"""The gRPC storage proxy is not an open door: by default it listens on loopback only."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import free_port, project_env
from tests.helpers import wait_until


def _outward_address() -> str | None:
    """This machine's address on its network (no packet is sent), None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_the_proxy_listens_on_loopback_only_by_default(tmp_path: Path, tracking_store: str) -> None:
    outward = _outward_address()
    if outward is None:
        pytest.skip("this machine has no non-loopback address to try the proxy from")
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "pipelines.storage_proxy", "--storage",
         f"sqlite:///{tmp_path}/optuna.db", "--port", str(port)],
        cwd=tmp_path, env=project_env(tracking_store), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _accepts("127.0.0.1", port), 120, "the proxy to listen")
        # The same port is closed from the machine's network address.
        assert not _accepts(outward, port)
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(30)
