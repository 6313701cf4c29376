"""The study lock through a real gRPC storage proxy (Optuna's server, in this process), held by
threads and by a real process killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.storages._grpc.server import make_server

from tests.browser import free_port
from tracking.sweep.proxy_lock import LOCK_STUDY, proxy_lock
from tracking.sweep.storage import study_lock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def port() -> Iterator[int]:
    port = free_port()
    server = make_server(optuna.storages.InMemoryStorage(), "127.0.0.1", port)
    server.start()
    yield port
    server.stop(None)


def test_one_holder_at_a_time_and_the_lock_is_gone_after(port: int) -> None:
    inside: list[str] = []
    overlaps: list[str] = []

    def hold(name: str) -> None:
        with study_lock(f"grpc://127.0.0.1:{port}"):
            if inside:
                overlaps.append(name)
            inside.append(name)
            time.sleep(0.5)
            inside.remove(name)

    threads = [threading.Thread(target=hold, args=(str(n),)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Nobody entered while another was inside, and everyone got in.
    assert overlaps == [] and not any(t.is_alive() for t in threads)
    # Released: no lock study is left in the storage.
    client = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port)
    assert LOCK_STUDY not in [s.study_name for s in client.get_all_studies()]
    client.close()


def test_a_holder_killed_by_sigkill_is_taken_over_after_stale_seconds(port: int) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom tracking.sweep.proxy_lock import proxy_lock\n"
         f"with proxy_lock('127.0.0.1', {port}, beat=0.2, stale=2):\n"
         "    print('held', flush=True)\n    time.sleep(600)\n"],
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        got, release = threading.Event(), threading.Event()

        def wait_for_the_lock() -> None:
            with proxy_lock("127.0.0.1", port, beat=0.2, stale=2):
                got.set()
                release.wait(30)

        waiter = threading.Thread(target=wait_for_the_lock, daemon=True)
        waiter.start()
        # A live holder keeps beating: the waiter does not take the lock from it.
        assert not got.wait(4)
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # Taken over once the dead holder's beat has stood still for ``stale`` seconds.
        assert got.wait(10)
        release.set()
        waiter.join(10)
    finally:
        holder.kill()
        holder.wait(10)
