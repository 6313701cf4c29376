"""The cluster recipes (examples/kubernetes, examples/slurm), without a cluster.

The manifests pass the Kubernetes schemas offline (kubernetes-validate ships them), the GPU
variant included. Then each recipe's own command and environment, read out of job.yaml (and the
ConfigMap and Secret it names) or out of sweep.sbatch, run as N local processes, one per index
(JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID), against a real PostgreSQL study and a real
`mlflow server --app-name basic-auth`. What differs from a cluster is only what a cluster
provides: the ConfigMap's values point at this machine's servers with a small study, the Secret
holds this test's user, the image's Python is this one. One worker's whole process tree (each
of its process groups) is SIGKILLed mid-trial; the study still finishes every trial and sets
``@champion``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import optuna
import psutil
import pytest
import yaml

from tests.browser import auth_config, mlflow_server, project_env, serve
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "examples" / "kubernetes"
SBATCH = REPO / "examples" / "slurm" / "sweep.sbatch"
SECRET_KEYS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "PGPASSWORD")
KUBERNETES = "1.37.0"  # the newest schemas kubernetes-validate ships
# The study the processes run: small and quick, the recipe's other settings as they are.
SETTINGS = {
    "STUDY_NAME": "recipe",
    "N_TRIALS": "6",
    "DATASET": "digits",
    "MAX_TRAIN_SAMPLES": "600",
    "HIDDEN_UNITS": "32",
    "EPOCHS_MIN": "10",  # long enough to be killed between epochs 2 and 10
    "EPOCHS_MAX": "10",
    # A live worker on a loaded 2-core machine keeps its trial (as in test_faults.py)
    "HEARTBEAT_INTERVAL": "2",
    "GRACE_PERIOD": "20",
    "CV_FOLDS": "0",  # one split: the killed trial is the subject here, not the selection
}
WORKERS = 3  # processes started, whatever N the recipe asks for: two cores here


# --- the recipes, as a cluster reads them ---------------------------------------------------


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The resources ``kubectl apply -k directory`` sends, for the JSON patches used here."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[dict[str, Any]] = []
    for entry in spec["resources"]:
        path = (directory / entry).resolve()
        if path.is_dir():
            resources += kustomize(path)
        else:
            resources += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for patch in spec.get("patches", []):
        target = patch["target"]
        for resource in resources:
            if (resource["kind"], resource["metadata"]["name"]) == (target["kind"], target["name"]):
                for op in yaml.safe_load((directory / patch["path"]).read_text()):
                    json_patch(resource, op)
    return resources


def json_patch(document: dict[str, Any], op: dict[str, Any]) -> None:
    """One ``add`` or ``replace`` operation of a JSON patch (RFC 6902) on ``document``."""
    assert op["op"] in ("add", "replace"), op
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")]
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if op["op"] == "replace":
        assert last in node, f"{op['path']} is not there to replace"
    node[last] = op["value"]


def resource(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind]
    return found


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes's ``$(NAME)`` expansion of a command or arg: a name not in ``env`` stays as
    written, ``$$`` is a literal ``$``."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]),
        text,
    )


class Worker(NamedTuple):
    argv: list[str]
    env: dict[str, str]


def kubernetes_worker(index: int, config: dict[str, str], secret: dict[str, str]) -> Worker:
    """Pod ``index`` of job.yaml: its container's command, args and environment."""
    resources = kustomize(K8S)
    (container,) = resource(resources, "Job")["spec"]["template"]["spec"]["containers"]
    env = {"JOB_COMPLETION_INDEX": str(index)}  # set by the Job controller (Indexed)
    for source in container.get("envFrom", []):
        assert (
            source["configMapRef"]["name"] == resource(resources, "ConfigMap")["metadata"]["name"]
        )
        env |= config
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret[ref["key"]]
    argv = [expand(part, env) for part in [*container["command"], *container["args"]]]
    assert argv[0] == "python"  # the image's Python: here, this environment's
    return Worker([sys.executable, *argv[1:]], env)


def slurm_worker(index: int, config: dict[str, str], secret: dict[str, str]) -> Worker:
    """Task ``index`` of sweep.sbatch's array: the script as SLURM runs it (its ``#SBATCH``
    lines are comments to bash), with what sbatch exports and SLURM sets."""
    env = {**config, **secret, "PYTHON": sys.executable, "SLURM_ARRAY_TASK_ID": str(index),
           "SLURM_ARRAY_JOB_ID": "1000", "SLURM_JOB_ID": str(1001 + index)}  # fmt: skip
    return Worker(["bash", str(SBATCH)], env)


def recipe_size(recipe: str) -> int:
    """The N workers the recipe starts."""
    if recipe == "kubernetes":
        spec = resource(kustomize(K8S), "Job")["spec"]
        assert spec["completions"] == spec["parallelism"]
        return int(spec["parallelism"])
    (first, last) = re.findall(r"^#SBATCH --array=(\d+)-(\d+)", SBATCH.read_text(), re.M)[0]
    return int(last) - int(first) + 1


# --- offline checks -------------------------------------------------------------------------


def test_the_manifests_pass_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    for variant in (K8S, K8S / "gpu"):
        for doc in kustomize(variant):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)  # raises when invalid
    # One GPU per pod in the GPU variant only.
    limits = [
        resource(kustomize(d), "Job")["spec"]["template"]["spec"]["containers"][0]["resources"][
            "limits"
        ]
        for d in (K8S, K8S / "gpu")
    ]
    assert "nvidia.com/gpu" not in limits[0] and limits[1]["nvidia.com/gpu"] == 1


def test_a_manifest_that_breaks_the_schema_is_caught() -> None:
    import kubernetes_validate

    job = resource(kustomize(K8S), "Job")
    job["spec"]["parallelism"] = "four"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES, strict=True)


def test_credentials_come_only_from_the_secret() -> None:
    resources = kustomize(K8S)
    (container,) = resource(resources, "Job")["spec"]["template"]["spec"]["containers"]
    from_secret = {v["name"] for v in container["env"] if "secretKeyRef" in v.get("valueFrom", {})}
    plain = {v["name"] for v in container["env"] if "value" in v}
    assert from_secret == set(SECRET_KEYS) and not plain & set(SECRET_KEYS)
    config = resource(resources, "ConfigMap")["data"]
    assert not set(config) & set(SECRET_KEYS)
    # No password in a URL of the ConfigMap or the script (user@host only).
    for text in [*config.values(), SBATCH.read_text()]:
        assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), text


def test_the_recipes_ask_for_the_same_settings() -> None:
    config = resource(kustomize(K8S), "ConfigMap")["data"]
    script = SBATCH.read_text()
    defaults = dict(re.findall(r'^: "\$\{(\w+):=([^}]*)\}"', script, re.M))
    assert set(config) - {"MLFLOW_TRACKING_URI"} == set(defaults) - {"PYTHON"}
    assert recipe_size("kubernetes") == recipe_size("slurm")


# --- the recipes, run -----------------------------------------------------------------------


class Team(NamedTuple):
    url: str
    secret: dict[str, str]  # the Secret's keys


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """`mlflow server --app-name basic-auth` with a user ``worker`` (EDIT on Default)."""
    from mlflow.server import get_app_client

    passwords = {user: secrets.token_urlsafe(12) for user in ("admin", "worker")}
    env = {k: v for k, v in project_env("").items() if not k.startswith("MLFLOW_")}
    env |= auth_config(tmp_path, passwords["admin"])
    command = mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path / "artifacts",
                            "--app-name", "basic-auth")  # fmt: skip
    with serve("mlflow-auth-server", command, health="/health", cwd=tmp_path, env=env) as server:
        os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = passwords["admin"]
        try:
            admin = get_app_client("basic-auth", tracking_uri=server.url)
            admin.create_user("worker", passwords["worker"])
            admin.grant_user_permission("worker", "experiment", "0", "EDIT")
        finally:
            for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
                os.environ.pop(name, None)
        secret = {
            "MLFLOW_TRACKING_USERNAME": "worker",
            "MLFLOW_TRACKING_PASSWORD": passwords["worker"],
            "PGPASSWORD": "unused",  # the test's PostgreSQL trusts local connections
        }
        yield Team(server.url, secret)


def _tree(pid: int) -> list[psutil.Process]:
    """The process ``pid`` and all its descendants (a sweep's supervisor runs its trials in a
    worker process of its own session, ``tracking.sweep.workers``)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_in_trial(reader: optuna.storages.BaseStorage, pid: int) -> bool:
    """A process of ``pid``'s tree runs a trial that has reported two epochs (one backed up)."""
    try:
        study = optuna.load_study(study_name=SETTINGS["STUDY_NAME"], storage=reader)
    except KeyError:
        return False
    ours = {p.pid for p in _tree(pid)}
    return any(
        trial.user_attrs.get("worker_pid") in ours and len(trial.intermediate_values) >= 2
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    )


def _kill_tree(pid: int) -> None:
    """SIGKILL every process group of ``pid``'s tree at once: the pod, or the node, is gone."""
    for group in {os.getpgid(p.pid) for p in _tree(pid) if p.is_running()}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("recipe", ["kubernetes", "slurm"])
def test_the_recipe_runs_n_workers_and_survives_a_killed_one(
    recipe: str, tmp_path: Path, team: Team, postgres_db: Callable[[], str]
) -> None:
    from mlflow import MlflowClient

    storage = postgres_db()
    config = {**resource(kustomize(K8S), "ConfigMap")["data"], **SETTINGS,
              "MLFLOW_TRACKING_URI": team.url, "OPTUNA_STORAGE": storage}  # fmt: skip
    make = kubernetes_worker if recipe == "kubernetes" else slurm_worker
    assert recipe_size(recipe) >= WORKERS
    base = {k: v for k, v in project_env(team.url).items() if not k.startswith("MLFLOW_")}
    shared = tmp_path / "checkout"  # SLURM: every task in the submit directory
    processes = []
    for index in range(WORKERS):
        worker = make(index, config, team.secret)
        cwd = shared if recipe == "slurm" else tmp_path / f"pod-{index}"  # a pod: its own disk
        cwd.mkdir(exist_ok=True)
        with (tmp_path / f"worker-{index}.log").open("wb") as log:
            processes.append(subprocess.Popen(
                worker.argv, cwd=cwd, env=base | worker.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            ))  # fmt: skip
    try:
        reader = optuna.storages.RDBStorage(storage)
        victim = processes[0]
        wait_until(lambda: _tree_in_trial(reader, victim.pid) or victim.poll() is not None,
                   600, "worker 0 to report two epochs")  # fmt: skip
        assert victim.poll() is None, (tmp_path / "worker-0.log").read_text()[-3000:]
        _kill_tree(victim.pid)
        victim.wait(30)
        for number, process in enumerate(processes[1:], 1):
            process.wait(900)
            log = (tmp_path / f"worker-{number}.log").read_text()
            assert process.returncode == 0, log[-4000:]
            assert team.secret["MLFLOW_TRACKING_PASSWORD"] not in log
    finally:
        for process in processes:
            if process.poll() is None:
                _kill_tree(process.pid)
                process.wait(30)
    study = optuna.load_study(study_name=SETTINGS["STUDY_NAME"], storage=storage)
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    # Every trial finished, the killed one (FAIL) retried: n_trials COMPLETE or PRUNED.
    assert states.count("COMPLETE") + states.count("PRUNED") == int(SETTINGS["N_TRIALS"]), states
    (killed,) = [t for t in trials if t.state.name == "FAIL"]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state.name in ("COMPLETE", "PRUNED") and retry.params == killed.params
    # The tracking server: one parent, one run per trial, none left RUNNING, and a champion.
    client = MlflowClient(team.url, registry_uri=team.url)
    os.environ["MLFLOW_TRACKING_USERNAME"] = team.secret["MLFLOW_TRACKING_USERNAME"]
    os.environ["MLFLOW_TRACKING_PASSWORD"] = team.secret["MLFLOW_TRACKING_PASSWORD"]
    try:
        runs = client.search_runs(["0"], max_results=1000)
        roles = sorted(r.data.tags.get("sweep.role", "?") for r in runs)
        trial_runs = {t.user_attrs["mlflow_run_id"] for t in trials}
        assert roles == sorted(["parent"] + ["trial"] * len(trial_runs)), roles
        assert [r.info.run_id for r in runs if r.info.status == "RUNNING"] == []
        champion = client.get_model_version_by_alias("digits-mlp", "champion")
        best_run = study.best_trial.user_attrs["mlflow_run_id"]
        assert champion.run_id == best_run
    finally:
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            os.environ.pop(name, None)
