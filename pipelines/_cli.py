"""The command line of every entry point: flags from the config dataclasses, logging, errors.

One ``--flag-name`` (alias ``--flag_name``) per dataclass field, typed, with the field's default
and help (``tracking.config.params``). Flags that argparse cannot parse, like bad values, are
reported in one line with exit status 2, and so is a flag it does not know by name: no
abbreviation is completed (``--epoch 2``, which ``mlflow run -P epoch=2`` passes, is refused with
the flag it resembles, never taken as ``--epochs``).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import difflib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from tracking.config.params import parse_bool, spec_of
from tracking.config.redact import RedactingFilter, redact


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit 2) instead of usage + error, and
    refuses a flag it does not know by name (no abbreviations), naming the closest one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        known, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.error(self.unknown(unknown))
        return known

    def unknown(self, extras: Sequence[str]) -> str:
        """What is wrong with the first argument this parser does not know."""
        flag = next((e.split("=", 1)[0] for e in extras if e.startswith("-")), None)
        if flag is None:
            return f"unexpected argument {extras[0]!r}"
        known = [s for action in self._actions for s in action.option_strings]
        close = difflib.get_close_matches(flag, known, n=1)
        hint = f"did you mean {close[0]} (-P {_param(close[0])})?" if close else "no such flag"
        return f"unknown flag {flag} (-P {_param(flag)}): {hint}"

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def _param(flag: str) -> str:
    """The MLproject parameter of a flag: ``--learning-rate`` -> ``learning_rate``."""
    return flag.lstrip("-").replace("-", "_")


def _bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as error:  # argparse reports ArgumentTypeError's message in its one line
        raise argparse.ArgumentTypeError(str(error)) from None


KINDS: dict[str, Callable[[str], Any]] = {"bool": _bool, "int": int, "float": float}


def add_flags(
    parser: argparse.ArgumentParser, cls: type, only: Collection[str] | None = None
) -> None:
    """The flags of ``cls``'s fields (of those named in ``only``, when given)."""
    for f in dataclasses.fields(cls):
        if only is not None and f.name not in only:
            continue
        flags = [f"--{f.name.replace('_', '-')}"]
        if "_" in f.name:
            flags.append(f"--{f.name}")
        parser.add_argument(
            *flags,
            dest=f.name,
            type=KINDS.get(str(f.type), str),
            default=f.default,
            metavar=str(f.type).upper(),
            help=f"{spec_of(f).help} (default: {f.default!r})",
        )


def parse(
    argv: Sequence[str] | None, prog: str, description: str | None, *classes: type
) -> list[Any]:
    """One CLI made of the flags of several config dataclasses; one instance of each."""
    parser = OneLineParser(prog=prog, description=description)
    for cls in classes:
        add_flags(parser, cls)
    ns = parser.parse_args(argv)
    return [
        cls(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(cls)}) for cls in classes
    ]


def setup() -> None:
    """Logging once, on stderr; TensorFlow's C++ info lines off (before it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:  # no password in any log line
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for noisy in ("alembic", "mlflow.store", "mlflow.system_metrics", "urllib3", "absl", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # TensorFlow's "triggered tf.function retracing" warnings concern its internals (the
    # signature check of log_model predicts on 5 rows), not anything a user can change.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tensorflow() -> None:
    """Import TensorFlow with its C++ start-up notices filtered out of stderr (fd 2); every
    other line it writes there is passed on unchanged, after the import. The same function
    loads a logged model (``tracking.model.keras_rows``, shipped with it). GPU memory is then taken
    as needed (``tracking.model.devices.use_memory_growth``)."""
    from tracking.model.devices import use_memory_growth
    from tracking.model.keras_rows import import_tensorflow_quietly, tensorflow_notices_filtered

    import_tensorflow_quietly()
    with tensorflow_notices_filtered():  # listing the devices prints more of them
        use_memory_growth()  # several processes can share a GPU


def import_roots() -> list[str]:
    """The folders that hold ``pipelines`` and ``tracking``: what a child process must import."""
    import tracking

    here = Path(__file__).resolve().parent.parent
    return [str(here), str(Path(tracking.__file__).resolve().parent.parent)]


def fail(message: object) -> int:
    """One line on stderr (passwords masked), exit status 2, no traceback."""
    print(f"error: {redact(str(message))}", file=sys.stderr)
    return 2


def raise_on_sigterm() -> None:
    """Turn the first SIGTERM into ``Terminated`` (a plain SIGTERM would leave the run RUNNING
    forever) and ignore later ones, which would cut short the ending of the run: a parent's
    death signals once per thread of the dying parent (``follow_parent``)."""
    from tracking.config.errors import Terminated

    def handler(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(f"received signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)


PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_PARENT = 1.0  # seconds, where the kernel cannot signal a parent's death


def follow_parent(parent_pid: int) -> None:
    """SIGTERM this process when ``parent_pid`` (its parent) dies, however it dies (SIGKILL,
    the OOM killer). A sweep worker turns SIGTERM into ``Terminated`` as when the supervisor
    forwards Ctrl-C: its trial's run ends KILLED with its curves and the trial is queued again.
    Linux's ``PR_SET_PDEATHSIG`` has the kernel send it; elsewhere a thread watches the
    parent's pid. Called before anything is created; 0 follows no one."""
    if not parent_pid:
        return
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # it died before the lines above armed anything
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_PARENT)
    os.kill(os.getpid(), signal.SIGTERM)
