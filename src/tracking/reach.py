"""Refuse in seconds a tracking server or database that cannot be reached, before anything starts.

Without this, MLflow's HTTP client retries a dead tracking server for about four minutes, then
fails with several tracebacks. Standard library only; passwords never appear in the message.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from tracking.errors import ConfigError

TIMEOUT = 5.0  # seconds per attempt
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
FIX = (
    "start the tracking server (e.g. mlflow server --host 127.0.0.1 --port 5000) or unset "
    "MLFLOW_TRACKING_URI to track into sqlite:///mlflow.db"
)


def check_tracking_uri(uri: str | None) -> None:
    """Raise ConfigError naming MLFLOW_TRACKING_URI when ``uri`` cannot be reached."""
    if not uri:
        return
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    try:
        if scheme in ("http", "https"):
            netloc = parts.hostname or ""
            if parts.port:
                netloc = f"{netloc}:{parts.port}"
            health = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
            try:
                urllib.request.urlopen(health, timeout=TIMEOUT).close()  # noqa: S310
            except urllib.error.HTTPError:
                pass  # the server answered (a proxy without /health, say): it is there
        elif scheme in DEFAULT_PORTS:
            port = parts.port or DEFAULT_PORTS[scheme]
            socket.create_connection((parts.hostname or "localhost", port), TIMEOUT).close()
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        problem = f"cannot be reached within {TIMEOUT:.0f} s ({reason})"
        raise ConfigError("MLFLOW_TRACKING_URI", uri, problem, FIX) from None
