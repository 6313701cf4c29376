"""Real servers on free loopback ports, and headless Chromium to look at what they serve.

The tests that check what a user sees start the project's entry points, `mlflow server`,
`mlflow models serve` and `optuna-dashboard` as real processes (each in its own process group,
waited for with a health check, always terminated), then open pages in Debian's `chromium`
with ``--dump-dom`` (the DOM after the page's JavaScript ran) and ``--screenshot``.

React apps (the MLflow UI, optuna-dashboard) fill the DOM after their API calls return:
``--virtual-time-budget`` lets Chromium run timers and wait for the network before dumping.
``look`` retries with a larger budget when the expected texts are not there yet.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this environment's mlflow, uvicorn, optuna-dashboard

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Finish layout, paint and compositing before each frame is drawn. Without it, under CPU
    # load, virtual time could run out before the first frame told an IntersectionObserver
    # that the MLflow UI's lazily rendered charts are in view: 4 of 10 loads had no chart on a
    # busy 2-core machine, 13 of 13 with it.
    "--run-all-compositor-stages-before-draw",
)
SCREEN = (1400, 1000)
BUDGETS_MS = (15_000, 30_000)  # --virtual-time-budget of the first try, then of the retry


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port`` (a server started by a test)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def mlflow_server(backend: str, artifacts: Path, *options: str) -> Callable[[int], list[str]]:
    """``mlflow server`` on a loopback port, one worker, for ``serve``: ``backend`` its store,
    ``artifacts`` its ``--artifacts-destination``, ``options`` more (``--app-name basic-auth``)."""

    def command(port: int) -> list[str]:
        return [
            *(str(BIN / "mlflow"), "server", *options, "--backend-store-uri", backend),
            *("--artifacts-destination", str(artifacts)),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ]

    return command


def auth_config(tmp_path: Path, admin_password: str) -> dict[str, str]:
    """The environment ``mlflow server --app-name basic-auth`` reads: an ini file in
    ``tmp_path`` (admin ``admin``, everyone else READ by default, users in ``auth.db``; a password
    hashed once a minute, not per request) and the CSRF key every server of a team shares."""
    ini = tmp_path / "auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path}/auth.db\nadmin_username = admin\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    return {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": token_hex(16)}


def project_env(tracking_uri: str) -> dict[str, str]:
    """The environment a user has with the project's venv activated, tracking into a store."""
    return {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_REGISTRY_URI": tracking_uri,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        # `mlflow models serve --env-manager local` execs `uvicorn` from PATH
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def run_pipeline(module: str, *args: str, cwd: Path, tracking_uri: str) -> None:
    """`python -m <module> args...` (a project entry point) in ``cwd``; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=project_env(tracking_uri),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"{module} {' '.join(args)} exited {done.returncode}:\n" + (done.stderr[-3000:])
    )


@dataclass(frozen=True)
class Server:
    name: str
    url: str  # http://127.0.0.1:PORT
    port: int
    startup_seconds: float  # from Popen to the first healthy answer
    log: Path
    process: subprocess.Popen[bytes]


@contextmanager
def serve(
    name: str,
    command: Callable[[int], Sequence[str]],
    *,
    health: str,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 180,
) -> Iterator[Server]:
    """Start ``command(port)`` on a free port, wait until GET ``health`` answers 200, yield it.

    The process gets its own process group (`mlflow models serve` runs uvicorn as a child), and
    the whole group is terminated on exit, whatever happened. A port taken between `free_port`
    and the server's bind is retried with another port.
    """
    for attempt in range(3):
        port = free_port()
        log = cwd / f"{name}.log"
        started = time.monotonic()
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(command(port)),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            if not _wait_healthy(process, url + health, started + timeout):
                text = log.read_text(errors="replace")
                if "already in use" in text and attempt < 2:
                    continue
                rc = process.poll()
                why = f"exited with {rc}" if rc is not None else f"not healthy after {timeout} s"
                raise RuntimeError(f"{name} {why} ({url}{health}); its log ends:\n{text[-3000:]}")
            yield Server(name, url, port, time.monotonic() - started, log, process)
            return
        finally:
            stop(process)
    raise AssertionError("unreachable")


def _wait_healthy(process: subprocess.Popen[bytes], url: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    return False


def stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM the process's group, SIGKILL what is left after ``grace`` seconds."""
    group = process.pid  # start_new_session=True: the group id is the leader's pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            process.poll()  # reap the leader
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    process.wait(timeout=10)


def http_bytes(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    """GET (or POST JSON ``data`` to) ``url``: (status, body), error statuses included."""
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def http_json(url: str, body: object | None = None) -> tuple[int, object]:
    """GET (or POST ``body`` as JSON to) ``url``: (status, decoded JSON), error statuses too."""
    status, answer = http_bytes(url, None if body is None else json.dumps(body).encode())
    return status, json.loads(answer or b"null")


# --- Chromium -------------------------------------------------------------------------------


def chromium_path() -> str | None:
    """``$CHROMIUM`` if set, else `chromium` (Debian) or `chromium-browser` from PATH."""
    if "CHROMIUM" in os.environ:
        path = os.environ["CHROMIUM"]
        return path if os.access(path, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The browser; without it the test fails under CI (env CI set) and is skipped elsewhere."""
    path = chromium_path()
    if path is not None:
        return path
    where = (
        f"CHROMIUM={os.environ['CHROMIUM']!r} is not executable"
        if "CHROMIUM" in os.environ
        else "no `chromium` or `chromium-browser` on PATH"
    )
    message = (
        f"no headless Chromium ({where}): install Debian's with `apt-get install chromium` "
        "(or run `.ci/run`, which does), or set CHROMIUM to a Chromium or Chrome binary"
    )
    if os.environ.get("CI"):  # as tests/conftest.py does for PostgreSQL
        pytest.fail(f"CI is set: {message}", pytrace=False)
    pytest.skip(message)


def screenshot_dir() -> Path:
    """Where screenshots are kept: $UI_SCREENSHOT_DIR, else <repo>/build/ui-screenshots."""
    path = Path(os.environ.get("UI_SCREENSHOT_DIR") or REPO / "build" / "ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Page:
    url: str
    dom: str  # the serialized DOM after the page's scripts ran
    text: str  # its visible text: text nodes outside script/style/noscript, spaces collapsed
    screenshot: Path | None
    budget_ms: int
    seconds: float

    def missing(self, expected: Iterable[str]) -> list[str]:
        return [text for text in expected if text not in self.text]


def open_page(
    url: str,
    *,
    screenshot: Path | None = None,
    budget_ms: int = BUDGETS_MS[0],
    window: tuple[int, int] = SCREEN,
    timeout: float = 180,
) -> Page:
    """One headless Chromium with a fresh profile: the DOM of ``url`` and a screenshot of it."""
    browser = require_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={window[0]},{window[1]}",
        ]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.unlink(missing_ok=True)
            command.append(f"--screenshot={screenshot}")
        command += ["--dump-dom", url]
        started = time.monotonic()
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process, grace=5)
            raise
        finally:
            if process.poll() is None:
                stop(process, grace=5)
    seconds = time.monotonic() - started
    dom = out.decode(errors="replace")
    if process.returncode != 0 or not dom.strip():
        tail = err.decode(errors="replace")[-3000:]
        raise RuntimeError(f"chromium exited {process.returncode} on {url}:\n{tail}")
    if screenshot is not None and not screenshot.is_file():
        raise RuntimeError(f"chromium wrote no screenshot {screenshot} for {url}")
    return Page(url, dom, visible_text(dom), screenshot, budget_ms, seconds)


def look(
    url: str,
    expected: Iterable[str],
    *,
    screenshot: Path | None = None,
    window: tuple[int, int] = SCREEN,
    budgets: Sequence[int] = BUDGETS_MS,
) -> Page:
    """``open_page`` until every ``expected`` text is on the page, with growing time budgets.

    Returns the last page either way: the caller asserts ``page.missing(expected) == []``.
    """
    expected = list(expected)
    for budget in budgets:
        page = open_page(url, screenshot=screenshot, budget_ms=budget, window=window)
        if not page.missing(expected):
            break
    return page


class _TextParser(html.parser.HTMLParser):
    _HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(dom: str) -> str:
    parser = _TextParser()
    parser.feed(dom)
    parser.close()
    return " ".join(" ".join(parser.parts).split())
