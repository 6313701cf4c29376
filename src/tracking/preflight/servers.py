"""Refuse in seconds a tracking server or database that cannot be reached, or that refuses this
user, before anything starts.

Without this, MLflow's HTTP client retries a dead tracking server for about four minutes, then
fails with several tracebacks; a server with MLflow's basic-auth app (``mlflow server --app-name
basic-auth``) answers 401 or 403 only once runs exist. Here each case is one line naming the
variable to set: unreachable (``MLFLOW_TRACKING_URI``), wrong or missing credentials, 401
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, the only place a password is read
from), no permission to create runs in the experiment or versions of the registered model, 403.

Permissions are asked of the server itself, with requests it authorises first and then refuses
as malformed (a run without a valid start time, a version without a source): 400 means allowed,
403 not, and nothing is created. Standard library only; passwords never appear in a message.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from base64 import b64encode
from urllib.parse import quote, urlsplit, urlunsplit

from tracking.config.errors import ConfigError

TIMEOUT = 5.0  # seconds per attempt
# A server that answered /health is there; checking a password (PBKDF2) on a busy one can be slow.
ASK_TIMEOUT = 30.0
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
FIX = (
    "start the tracking server (e.g. mlflow server --host 127.0.0.1 --port 5000) or unset "
    "MLFLOW_TRACKING_URI to track into sqlite:///mlflow.db"
)
USER, PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
LOGIN_FIX = f"set {USER} and {PASSWORD} to a user of that server (never in the URL or a -P)"


def check_tracking_uri(uri: str | None, registered_model: str = "") -> None:
    """Raise ConfigError naming the variable to set when ``uri`` cannot be reached, or when its
    server refuses this user runs in the current experiment or versions of
    ``registered_model`` (empty: no registry check)."""
    if not uri:
        return
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("http", "https") and parts.password is not None:
        raise ConfigError(
            "MLFLOW_TRACKING_URI",
            uri,
            "holds a password",
            f"remove it from the URL and {LOGIN_FIX}",
        )
    try:
        if scheme in ("http", "https"):
            netloc = parts.hostname or ""
            if parts.port:
                netloc = f"{netloc}:{parts.port}"
            base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
            try:
                urllib.request.urlopen(base + "/health", timeout=TIMEOUT).close()  # noqa: S310
            except urllib.error.HTTPError:
                pass  # the server answered (a proxy without /health, say): it is there
            _Server(base).check(registered_model)
        elif scheme in DEFAULT_PORTS:
            port = parts.port or DEFAULT_PORTS[scheme]
            socket.create_connection((parts.hostname or "localhost", port), TIMEOUT).close()
    except (OSError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        reason = getattr(error, "reason", None) or error
        problem = f"cannot be reached within {TIMEOUT:.0f} s ({reason})"
        raise ConfigError("MLFLOW_TRACKING_URI", uri, problem, FIX) from None


class _Server:
    """What an MLflow tracking server at ``base`` lets this user do."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.user = os.environ.get(USER, "")
        password = os.environ.get(PASSWORD, "")
        token = b64encode(f"{self.user}:{password}".encode()).decode()
        self.headers = {"Content-Type": "application/json"}
        if self.user or password:
            self.headers["Authorization"] = f"Basic {token}"

    def check(self, registered_model: str) -> None:
        experiment = self._experiment()
        if not self.user:  # no login: a server without authentication; nothing more to ask
            return
        if experiment is not None:
            run = {"experiment_id": experiment, "start_time": "not a time"}
            if self._status("POST", "/api/2.0/mlflow/runs/create", run) == 403:
                self._forbidden(
                    f"may not create runs in experiment {experiment}",
                    "ask its owner or an admin for EDIT on it, or set MLFLOW_EXPERIMENT_NAME to "
                    "an experiment of your own",
                )
        if registered_model:
            self._registered_model(registered_model)

    def _experiment(self) -> str | None:
        """The id of the experiment runs go to; None when MLflow will create it."""
        if experiment_id := os.environ.get("MLFLOW_EXPERIMENT_ID"):
            path = f"/api/2.0/mlflow/experiments/get?experiment_id={quote(experiment_id)}"
        elif name := os.environ.get("MLFLOW_EXPERIMENT_NAME"):
            path = f"/api/2.0/mlflow/experiments/get-by-name?experiment_name={quote(name)}"
        else:
            experiment_id, path = "0", "/api/2.0/mlflow/experiments/get?experiment_id=0"
        status, body = self._request("GET", path)
        if status == 200 and not experiment_id:
            experiment_id = str(json.loads(body)["experiment"]["experiment_id"])
        return None if status == 404 else experiment_id

    def _registered_model(self, name: str) -> None:
        status = self._status("GET", f"/api/2.0/mlflow/registered-models/get?name={quote(name)}")
        allowed = status != 403
        if status == 200:  # it exists: may this user add versions?
            version = {"name": name, "source": ""}
            allowed = self._status("POST", "/api/2.0/mlflow/model-versions/create", version) != 403
        if not allowed:
            self._forbidden(
                f"may not add versions to registered model {name!r}",
                "ask its owner or an admin for EDIT on it, or pass another -P "
                'registered_model_name (one of your own, or "" to not register)',
            )

    def _status(self, method: str, path: str, body: object = None) -> int:
        return self._request(method, path, body)[0]

    def _request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked above)
            self.base + path, data=data, method=method, headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=ASK_TIMEOUT) as response:  # noqa: S310
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            status = int(error.code)
        except OSError as error:  # it answered /health, then stopped answering
            reason = getattr(error, "reason", None) or error
            problem = f"did not answer within {ASK_TIMEOUT:.0f} s ({reason})"
            raise ConfigError("MLFLOW_TRACKING_URI", self.base, problem, FIX) from None
        if status == 401:
            problem = (
                f"was refused by {self.base} (401: unknown user or wrong password)"
                if self.user
                else f"is empty, and {self.base} requires a login (401)"
            )
            raise ConfigError(USER, self.user, problem, LOGIN_FIX)
        return status, b""

    def _forbidden(self, what: str, fix: str) -> None:
        raise ConfigError(USER, self.user, f"{what} on {self.base} (403)", fix)
