"""Load and faults: N sweep workers against a team's setup, one of them SIGKILLed mid-trial.

Two variants, one after the other in one invocation, each on its own fresh PostgreSQL databases
(127.0.0.1:5432, user ``postgres``; created for the variant and dropped after it):

- ``server``: the study in PostgreSQL, each worker with its own database connection;
- ``proxy``: the same, but the workers reach the study through Optuna's gRPC storage proxy
  (``python -m pipelines.storage_proxy``), holding no database connection of their own.

In both, the workers track into a real ``mlflow server --app-name basic-auth`` with a PostgreSQL
backend store, logged in as a limited user (EDIT on the Default experiment; the registered model
is its own), the password only in ``MLFLOW_TRACKING_PASSWORD``. Each worker is the command a team
member types on one machine (``python -m pipelines.sweep --workers 1 --trials-per-process 0``,
in a directory of its own), all started at once on the same study. Once worker 0's trial has
reported two epochs (so the first is backed up), worker 0 is SIGKILLed; the others carry on,
fail its trial after ``grace_period`` and retry it, continuing its MLflow run from the backup
its ``backup_path`` tag points at. Reported per variant:

- trials per minute: finished trials (COMPLETE, PRUNED) over the span from the first trial's
  start to the last one's end (Optuna's own timestamps; start-up, summary and refit excluded);
- trials lost: trials that neither finished nor have a finished retry (goal 0);
- runs left RUNNING in the tracking server when the last worker has exited (goal 0);
- runs beyond one per trial and the study's parent (goal 0: a retry continues its trial's run,
  and one worker summarises and promotes);
- failed requests (goal 0): the server's answers other than 2xx, minus the ones that are the
  protocol (a 404 to a GET for something that does not exist yet; the 400 the start-up check
  asks for, ``tracking.preflight.servers``), plus the client side: MLflow's HTTP retries,
  tracebacks and errors in the workers' and the proxy's output;
- whether the killed trial was continued in its own run, every epoch logged once.

    .venv/bin/python benchmarks/load.py [--workers 4] [--trials 24] [--epochs 5]

Writes ``benchmarks/results/load.json``. Not run by CI (minutes, and a PostgreSQL server).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from common import REPO, RESULTS, write_result

BIN = Path(sys.executable).parent
KILL_AFTER_EPOCHS = 2
POSTGRES = os.environ.get("LOAD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# An access log line: '... "POST /api/2.0/mlflow/runs/create HTTP/1.1" 400 ...'
REQUEST = re.compile(r'"(?P<method>[A-Z]+) (?P<path>/[^ ?"]*)[^"]*" (?P<status>\d{3})\b')
CLIENT_ERROR = re.compile(r"Traceback|\bERROR\b|Retrying \(|StatusCode\.|Exception:")
# Non-2xx answers that are the protocol, not a failure: (status, method, path suffix).
PROTOCOL = (
    (404, "GET", ""),  # a lookup of something that does not exist (yet)
    (400, "GET", "/registered-models/alias"),  # no @champion yet (MLflow answers 400 for it)
    (400, "POST", "/registered-models/create"),  # it exists: MLflow's register_model goes on
    (
        400,
        "POST",
        "/runs/create",
    ),  # the start-up check's probes (tracking.preflight.servers): a run and
    (400, "POST", "/model-versions/create"),  # a version asked for malformed on purpose
)


def failed_requests(server_log: str) -> tuple[int, dict[str, int]]:
    """Failed answers in a server's access log, and every non-2xx answer counted by
    ``"<status> <method> <path>"``. Not failed: the answers of ``PROTOCOL``."""
    answers: Counter[str] = Counter()
    failed = 0
    for match in REQUEST.finditer(server_log):
        status, method, path = int(match["status"]), match["method"], match["path"]
        if status < 400:
            continue
        answers[f"{status} {method} {path}"] += 1
        failed += not any(status == s and method == m and path.endswith(p) for s, m, p in PROTOCOL)
    return failed, dict(answers)


def client_errors(text: str) -> list[str]:
    """Lines of a worker's (or the proxy's) output that say a request failed or was retried."""
    return [line for line in text.splitlines() if CLIENT_ERROR.search(line)]


@contextmanager
def databases(*names: str) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases, one per name, dropped afterwards whatever happened."""
    import psycopg

    admin = psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)
    created = {name: f"load_{name}_{uuid.uuid4().hex[:10]}" for name in names}
    try:
        for database in created.values():
            admin.execute(f'CREATE DATABASE "{database}"')
        base = POSTGRES.rsplit("/", 1)[0]
        yield {name: f"{base}/{database}" for name, database in created.items()}
    finally:
        for database in created.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=5) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except OSError:
        return False


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's group (the server's own workers too), SIGKILL after 15 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@contextmanager
def auth_server(
    tmp: Path, backend: str, passwords: dict[str, str], server_workers: int
) -> Iterator[str]:
    """``mlflow server --app-name basic-auth`` on a loopback port, its backend in PostgreSQL, the
    admin password of ``passwords`` and a limited user ``worker``; its URL once every one of
    its ``server_workers`` processes has started. On a busy machine uvicorn's 5 s health check
    of its worker processes kills slow starters (seen here at a load of 13 on 2 cores), so it
    is given a minute."""
    ini = tmp / "auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{tmp}/basic_auth.db\nadmin_username = admin\n"
        f"admin_password = {passwords['admin']}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"
    )
    ini.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env |= {"MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16)}  # fmt: skip
    port = free_port()
    with (tmp / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--backend-store-uri",
             backend, "--artifacts-destination", str(tmp / "artifacts"), "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(server_workers),
             "--uvicorn-opts", "--timeout-worker-healthcheck 60"],
            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def started() -> bool:
            text = (tmp / "server.log").read_text(errors="replace")
            return text.count("Application startup complete") >= server_workers and _healthy(url)

        wait_for(lambda: started() or server.poll() is not None, 300, "the tracking server")
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited:\n{(tmp / 'server.log').read_text()[-3000:]}")
        admin = _as_admin(url, passwords)
        admin.create_user("worker", passwords["worker"])
        admin.grant_user_permission("worker", "experiment", "0", "EDIT")
        yield url
    finally:
        _stop(server)


def _as_admin(url: str, passwords: dict[str, str]) -> Any:
    from mlflow.server import get_app_client

    os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
    os.environ["MLFLOW_TRACKING_PASSWORD"] = passwords["admin"]
    return get_app_client("basic-auth", tracking_uri=url)


@contextmanager
def storage_proxy(tmp: Path, database: str) -> Iterator[str]:
    """``python -m pipelines.storage_proxy`` in front of ``database``; the workers' URL."""
    port = free_port()
    with (tmp / "proxy.log").open("wb") as log:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "pipelines.storage_proxy", "--storage", database,
             "--port", str(port)],
            cwd=tmp, env=_project_env({}), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: _listening(port) or proxy.poll() is not None, 120, "the proxy")
        if proxy.poll() is not None:
            raise RuntimeError(f"the proxy exited:\n{(tmp / 'proxy.log').read_text()[-3000:]}")
        yield f"grpc://127.0.0.1:{port}"
    finally:
        _stop(proxy)


def _project_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return env | {
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra,
    }


def sweep_command(args: argparse.Namespace, storage: str) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.sweep", "--dataset", args.dataset,
        "--max-train-samples", str(args.max_train_samples), "--seed", str(args.seed),
        "--hidden-units", args.hidden, "--epochs-min", str(args.epochs),
        "--epochs-max", str(args.epochs), "--batch-sizes", "32", "--pruner", "none",
        "--patience", "100", "--n-trials", str(args.trials), "--storage", storage,
        "--study-name", "load", "--workers", "1", "--trials-per-process", "0",
        "--heartbeat-interval", str(args.heartbeat_interval),
        "--grace-period", str(args.grace_period),
    ]  # fmt: skip


def kill_mid_trial(study_db: str, victim: subprocess.Popen[bytes], seconds: float) -> dict:
    """SIGKILL ``victim`` in the middle of a trial, once that trial has backed up an epoch
    (reported two: the first one's backup is committed before the second begins)."""
    import optuna

    reader = optuna.storages.RDBStorage(study_db)
    found: dict[str, Any] = {}

    def running_trial() -> bool:
        if victim.poll() is not None:
            raise RuntimeError(f"worker 0 exited ({victim.returncode}) before it could be killed")
        try:
            study = optuna.load_study(study_name="load", storage=reader)
        except KeyError:  # not created yet
            return False
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if (
                trial.user_attrs.get("worker_pid") == victim.pid
                and len(trial.intermediate_values) >= KILL_AFTER_EPOCHS
            ):
                found.update(number=trial.number, epochs_reported=len(trial.intermediate_values))
                return True
        return False

    wait_for(running_trial, seconds, "worker 0 to report two epochs")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    return found


def measure(
    args: argparse.Namespace, url: str, study_db: str, killed: dict, passwords: dict[str, str]
) -> dict[str, Any]:
    """What the study and the tracking server hold once every worker has exited."""
    import optuna
    from mlflow import MlflowClient

    study = optuna.load_study(study_name="load", storage=study_db)
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.is_finished() and t.state.name != "FAIL"]
    retried = {int(t.system_attrs["failed_trial"]): t for t in finished
               if "failed_trial" in t.system_attrs}  # fmt: skip
    lost = [t.number for t in trials if not t.state.is_finished()]
    lost += [t.number for t in trials if t.state.name == "FAIL" and t.number not in retried]
    starts = [t.datetime_start for t in finished if t.datetime_start]
    ends = [t.datetime_complete for t in finished if t.datetime_complete]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")

    _as_admin(url, passwords)
    client = MlflowClient(url, url)
    runs = client.search_runs(["0"], max_results=5000)
    statuses = Counter(r.info.status for r in runs)
    # One run per trial (a retry continues its killed trial's run) and the study's parent.
    trial_runs = {t.user_attrs["mlflow_run_id"] for t in trials if "mlflow_run_id" in t.user_attrs}
    retry = retried.get(killed["number"])
    continued: dict[str, Any] = {"retried_as": None if retry is None else retry.number}
    if retry is not None:
        killed_run = next(t for t in trials if t.number == killed["number"]).user_attrs.get(
            "mlflow_run_id"
        )
        run_id = retry.user_attrs.get("mlflow_run_id")
        steps = sorted(m.step for m in client.get_metric_history(run_id, "val_loss"))
        continued |= {
            "same_run": run_id == killed_run,
            "every_epoch_once": steps == list(range(args.epochs)),
            "status": client.get_run(run_id).info.status,
        }
    return {
        "n_trials": args.trials,
        "finished": len(finished),
        "states": dict(Counter(t.state.name for t in trials)),
        "trial_span_seconds": span,
        "trials_per_minute": 60 * len(finished) / span,
        "trials_lost": len(lost),
        "lost_trials": lost,
        "runs": dict(statuses),
        "runs_running": statuses.get("RUNNING", 0),
        "runs_extra": len(runs) - len(trial_runs) - 1,
        # what an extra run is: a second parent, a trial's second run, a refit...
        "runs_by_role": dict(Counter(r.data.tags.get("sweep.role", "none") for r in runs)),
        "killed": {**killed, **continued},
    }


@contextmanager
def _directory(prefix: str, *, keep: bool) -> Iterator[str]:
    """A temporary directory, kept (and named) with ``--keep`` to read its logs."""
    if keep:
        path = tempfile.mkdtemp(prefix=prefix)
        print(f"logs kept in {path}", flush=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield path


def run_variant(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """One variant (``server`` or ``proxy``) from fresh databases to what is left afterwards."""
    passwords = {"admin": secrets.token_urlsafe(16), "worker": secrets.token_urlsafe(16)}
    with (
        _directory(f"bench-load-{name}-", keep=args.keep) as tmp_name,
        databases("mlflow", "optuna") as db,
    ):
        tmp = Path(tmp_name)
        with (
            auth_server(tmp, db["mlflow"], passwords, args.server_workers) as url,
            ExitStack() as stack,
        ):
            storage = db["optuna"]
            if name == "proxy":
                storage = stack.enter_context(storage_proxy(tmp, db["optuna"]))
            env = _project_env({"MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_USERNAME": "worker",
                                "MLFLOW_TRACKING_PASSWORD": passwords["worker"]})  # fmt: skip
            workers: list[subprocess.Popen[bytes]] = []
            started = time.monotonic()
            for number in range(args.workers):  # a directory each, as on separate machines
                cwd = tmp / f"worker-{number}"
                cwd.mkdir()
                with (cwd / "worker.log").open("wb") as log:
                    workers.append(subprocess.Popen(
                        sweep_command(args, storage), cwd=cwd, env=env, stdout=log,
                        stderr=subprocess.STDOUT, start_new_session=True,
                    ))  # fmt: skip
            try:
                killed = kill_mid_trial(db["optuna"], workers[0], args.timeout)
                killed["after_seconds"] = time.monotonic() - started
                print(f"{name}: worker 0 SIGKILLed in trial {killed['number']} after "
                      f"{killed['after_seconds']:.0f} s", flush=True)  # fmt: skip
                for worker in workers[1:]:
                    worker.wait(args.timeout)
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        _stop(worker)
            wall = time.monotonic() - started
            result = measure(args, url, db["optuna"], killed, passwords)
        outputs = {f"worker-{n}": (tmp / f"worker-{n}" / "worker.log").read_text(errors="replace")
                   for n in range(args.workers)}  # fmt: skip
        if name == "proxy":
            outputs["proxy"] = (tmp / "proxy.log").read_text(errors="replace")
        server_failed, answers = failed_requests((tmp / "server.log").read_text(errors="replace"))
    errors = {who: client_errors(text) for who, text in outputs.items()}
    client_failed = sum(len(lines) for lines in errors.values())
    leaked = [who for who, text in outputs.items() if any(p in text for p in passwords.values())]
    return {
        **result,
        "wall_seconds": wall,
        "worker_exit_codes": [w.returncode for w in workers],
        "failed_requests": server_failed + client_failed,
        "failed_server_answers": server_failed,
        "non_2xx_answers": answers,
        "client_errors": {who: lines[:20] for who, lines in errors.items() if lines},
        "password_in_output": leaked,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="sweep processes on one study")
    parser.add_argument("--trials", type=int, default=24, help="n_trials of the study")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of every trial (>= 3)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--max-train-samples", type=int, default=600)
    parser.add_argument("--hidden", default="32", help="the MLP's hidden units")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--server-workers", type=int, default=2, help="mlflow server --workers")
    parser.add_argument("--heartbeat-interval", type=int, default=2)
    parser.add_argument("--grace-period", type=int, default=20)
    parser.add_argument("--variants", default="server,proxy", help="comma-separated")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds, per wait")
    parser.add_argument("--keep", action="store_true", help="keep each variant's directory")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error(f"--epochs must be at least 3 (worker 0 is killed after 2), got {args.epochs}")
    # Ctrl-C or SIGTERM: stop the workers, servers and databases of the variant on the way out.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result: dict[str, Any] = {}
    for name in args.variants.split(","):
        variant = run_variant(args, name)
        result[name] = variant
        print(f"{name}: {variant['finished']}/{args.trials} trials finished, "
              f"{variant['trials_per_minute']:.1f} trials/min, {variant['trials_lost']} lost, "
              f"{variant['runs_running']} runs RUNNING, {variant['runs_extra']} extra runs, "
              f"{variant['failed_requests']} failed "
              f"requests; killed trial: {variant['killed']}", flush=True)  # fmt: skip
    result["targets"] = {
        "met": all(
            v["trials_lost"] == 0
            and v["runs_running"] == 0
            and v["failed_requests"] == 0
            and v["runs_extra"] == 0
            and v["finished"] >= args.trials
            and not v["password_in_output"]
            for v in result.values()
        )  # fmt: skip
    }
    write_result("load", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
