"""The study lock of workers that reach their study through Optuna's gRPC storage proxy.

They hold no database connection, so the PostgreSQL advisory lock of
``tracking.sweep.storage.study_lock`` is out of their reach; without a lock every worker that
finished last at about the same time summarised and promoted (a refit run each:
``benchmarks/load.py`` counted 28 runs for 24 trials). Creating a study is atomic in every
Optuna storage (its name is unique; the proxy answers ``ALREADY_EXISTS``), so the lock is a
study of its own, ``LOCK_STUDY``: whoever creates it holds the lock and deletes it on release.

While it holds the lock, the holder beats (a system attr of that study, every ``beat``
seconds). A waiter that sees the beat unchanged for ``stale`` seconds, by its own clock (the
clocks of different machines need not agree), deletes that study by its id: its holder died (a
SIGKILL, a lost machine) and never blocks the others for long. Deleting by id never removes a
lock taken since, which is a new study with a new id.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning
from optuna.storages import GrpcStorageProxy
from optuna.study import StudyDirection

log = logging.getLogger(__name__)
LOCK_STUDY = "tracking.sweep.lock"
BEAT_ATTR = "beat"
BEAT_SECONDS = 5.0
STALE_SECONDS = 60.0
POLL_SECONDS = 0.5


@contextmanager
def proxy_lock(
    host: str, port: int, *, beat: float = BEAT_SECONDS, stale: float = STALE_SECONDS
) -> Iterator[None]:
    """Hold the lock of the proxy at ``host:port`` for the ``with`` block; wait for it first."""
    if not 0 < beat < stale:
        raise ValueError(f"beat must be positive and below stale but got {beat} and {stale}.")
    with warnings.catch_warnings():  # "experimental" since Optuna 4.2; its API is what we use
        warnings.simplefilter("ignore", ExperimentalWarning)
        storage = GrpcStorageProxy(host=host, port=port)
    try:
        lock_id = _acquire(storage, stale)
        stop = threading.Event()
        beater = threading.Thread(
            target=_beat, args=(storage, lock_id, stop, beat), name="proxy-lock", daemon=True
        )
        beater.start()
        try:
            yield
        finally:
            stop.set()
            beater.join()
            with suppress(KeyError):  # taken over after a pause longer than ``stale``
                storage.delete_study(lock_id)
    finally:
        storage.close()


def _acquire(storage: GrpcStorageProxy, stale: float) -> int:
    """The id of the lock study this process created, once no one else holds it."""
    seen: tuple[int, object, float] | None = None  # (lock id, its beat, when first seen)
    while True:
        try:
            return storage.create_new_study([StudyDirection.MINIMIZE], LOCK_STUDY)
        except DuplicatedStudyError:
            pass
        try:
            lock_id = storage.get_study_id_from_name(LOCK_STUDY)
            beat = storage.get_study_system_attrs(lock_id).get(BEAT_ATTR)
        except KeyError:  # released meanwhile
            continue
        now = time.monotonic()
        if seen is None or seen[:2] != (lock_id, beat):
            seen = (lock_id, beat, now)
        elif now - seen[2] > stale:
            log.warning("the study lock's holder has not beaten for %.0f s; taking it over", stale)
            with suppress(KeyError):  # another waiter took it over first
                storage.delete_study(lock_id)
            seen = None
            continue
        time.sleep(POLL_SECONDS)


def _beat(storage: GrpcStorageProxy, lock_id: int, stop: threading.Event, every: float) -> None:
    count = 0
    while True:
        try:
            storage.set_study_system_attr(lock_id, BEAT_ATTR, count)
        except KeyError:  # taken over: the holder paused longer than ``stale``
            log.warning("the study lock was taken over by another worker")
            return
        count += 1
        if stop.wait(every):
            return
