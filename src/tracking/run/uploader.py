"""One upload at a time, in a background thread, and only the newest one waits.

Training hands over each checkpoint as it is made and goes on at once. While an upload runs, a
new checkpoint waits; a newer one replaces it (the replaced one is ``discard``ed, never sent), so
the store receives the newest state as soon as the wire is free and the queue never grows. An
upload that fails is logged and counted; the next one is tried as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")


class LatestOnlyUploader(Generic[Item]):
    """``upload(item)`` in one thread, one at a time, newest first; ``discard(item)`` after it
    is sent (or replaced, or dropped by ``close``). ``uploaded``, ``replaced``, ``failed``:
    counts so far."""

    def __init__(
        self,
        upload: Callable[[Item], None],
        discard: Callable[[Item], None],
        name: str = "checkpoint-upload",
    ) -> None:
        self._upload, self._discard = upload, discard
        self._changed = threading.Condition()
        self._waiting: Item | None = None
        self._closed = False
        self.uploaded = self.replaced = self.failed = 0
        # A daemon: a stuck upload never keeps a finished (or Ctrl-C'd) process alive.
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> None:
        """Send ``item`` when the upload in progress (if any) is done; returns at once."""
        with self._changed:
            if self._closed:
                self._discard(item)
                return
            if self._waiting is not None:
                self._discard(self._waiting)
                self.replaced += 1
            self._waiting = item
            self._changed.notify_all()

    def close(self, *, send_waiting: bool, timeout: float | None = None) -> bool:
        """No more submits. ``send_waiting``: the waiting item is still sent, else dropped.
        Waits up to ``timeout`` seconds for the thread; False if it is still uploading."""
        with self._changed:
            self._closed = True
            if not send_waiting and self._waiting is not None:
                self._discard(self._waiting)
                self._waiting = None
            self._changed.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._changed:
                while self._waiting is None and not self._closed:
                    self._changed.wait()
                if self._waiting is None:
                    return  # closed, nothing left
                item, self._waiting = self._waiting, None
            try:
                self._upload(item)
                self.uploaded += 1
            except Exception as error:  # the next checkpoint is tried as usual
                self.failed += 1
                log.warning("a checkpoint upload failed (%s: %s)", type(error).__name__, error)
            finally:
                self._discard(item)
