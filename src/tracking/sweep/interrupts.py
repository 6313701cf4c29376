"""Ctrl-C and SIGTERM in a process that runs trials: raised inside a trial's training, held
everywhere else.

Optuna records an interrupted trial FAIL only when the interrupt reaches it inside the
objective: one raised in ``study.ask`` or ``study.tell`` (a storage write) leaves the trial
RUNNING, and one raised while the trial's run is being created leaves a RUNNING run and a trial
that is never queued again. So while ``optimize`` runs, SIGINT and SIGTERM raise
(``KeyboardInterrupt``, ``Terminated``) only inside ``INTERRUPTS.raising()``, the block where the
trial's run ends KILLED and the trial is queued again (``tracking.sweep.objective``). Anywhere
else the signal is held: the next trial raises it as its block starts, and ``installed`` raises
it once Optuna's loop has returned. One signal is raised; later ones are held, since they would
cut short the ending of the run (a dying parent signals once per thread).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from tracking.config.errors import Terminated

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    def __init__(self) -> None:
        self.held: BaseException | None = None
        self.raised = False
        self._raising = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.raised or self.held is not None:
            return  # one interrupt per process; the run it stopped is ending
        name = signal.Signals(signum).name
        error = KeyboardInterrupt() if signum == signal.SIGINT else Terminated(f"received {name}")
        if self._raising:
            self.raised = True
            raise error
        self.held = error

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Around Optuna's loop, in the main thread: the handlers, then the held interrupt."""
        previous = {s: signal.getsignal(s) for s in SIGNALS}
        self.held, self.raised, self._raising = None, False, False
        for signum in SIGNALS:
            signal.signal(signum, self._handler)
        try:
            yield
            self._raise_held()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextmanager
    def raising(self) -> Iterator[None]:
        """The block a signal may interrupt: one held since the last trial is raised here."""
        self._raise_held()
        self._raising = True
        try:
            yield
        finally:
            self._raising = False

    def _raise_held(self) -> None:
        if self.held is not None and not self.raised:
            self.raised = True
            raise self.held


INTERRUPTS = Interrupts()  # signal handlers are per process: one of these per process
