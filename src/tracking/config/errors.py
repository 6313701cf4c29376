"""The one error type users see: what was passed, why it is wrong, how to fix it."""

from __future__ import annotations

from typing import Any

from tracking.config.redact import redact


class ConfigError(ValueError):
    """A bad parameter, reported in one line before any run is created (passwords masked).

    Args:
        parameter: the parameter's name as in MLproject (``learning_rate``).
        value: what was passed.
        problem: what is wrong with it (``must be greater than 0``).
        fix: what to pass instead (``pass e.g. -P learning_rate=0.001``).
    """

    def __init__(self, parameter: str, value: Any, problem: str, fix: str) -> None:
        self.parameter = parameter
        self.value = value
        self.problem = problem
        self.fix = fix
        super().__init__(redact(f"{parameter}={value!r} {problem}; {fix}"))


class MonitorError(ValueError):
    """The monitored key is not among the metrics Keras produced (raised at the first epoch)."""

    def __init__(self, monitor: str, available: list[str]) -> None:
        self.monitor = monitor
        super().__init__(
            f"monitor={monitor!r} is not a metric this run produces; "
            f"available: {', '.join(sorted(available)) or 'none'}"
        )


class WorkerRefused(Exception):
    """A sweep worker process refused its input and said why in one line (shown as is)."""


class Terminated(BaseException):
    """Raised in the main thread by the SIGTERM handler, so runs end KILLED, not RUNNING."""


class ModelUnavailable(LookupError):
    """A model URI that the tracking store cannot resolve or load (the cause's first line)."""
