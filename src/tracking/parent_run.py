"""The study's parent MLflow run: created once, found again on every resume.

Its id is a study user attr (``mlflow_parent_run_id``); the tags ``sweep.role=parent`` and
``optuna.study_name`` find it too (e.g. after the attr was lost). Under ``mlflow run`` the run
MLflow opened for the command becomes the parent the first time; on a resume that run is tagged
``sweep.role=launcher`` and points at the parent.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import mlflow
import optuna
from mlflow import MlflowClient

from tracking.artifacts import log_params
from tracking.config import TrainConfig
from tracking.sweep_config import SweepConfig

log = logging.getLogger(__name__)
PARENT_ATTR = "mlflow_parent_run_id"


def find_or_create_parent(study: optuna.Study, base: TrainConfig, sweep: SweepConfig) -> str:
    """The study's parent run (reopened as RUNNING), created once per study."""
    client = MlflowClient()
    run_id = _existing_parent(client, study)
    launcher = os.environ.get("MLFLOW_RUN_ID")  # the run `mlflow run` opened for this command
    if run_id is None:
        tags = {"sweep.role": "parent", "optuna.study_name": study.study_name}
        if launcher:  # first invocation under `mlflow run`: its run becomes the parent
            run_id = launcher
            client.update_run(run_id, name=study.study_name)
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
        else:
            run = client.create_run(_experiment_id(), run_name=study.study_name, tags=tags)
            run_id = run.info.run_id
        log_params(run_id, {**base.as_params(), **_sweep_params(sweep)})
        study.set_user_attr(PARENT_ATTR, run_id)
        log.info("study %s: new parent run %s", study.study_name, run_id)
    else:
        client.update_run(run_id, status="RUNNING")
        log.info(
            "study %s resumed (%d trials so far): parent run %s",
            study.study_name,
            len(study.trials),
            run_id,
        )
        if launcher and launcher != run_id:  # a resume under `mlflow run`: point at the parent
            client.update_run(launcher, name=f"{study.study_name}-resume")
            client.set_tag(launcher, "sweep.role", "launcher")
            client.set_tag(launcher, "sweep.parent_run_id", run_id)
            client.set_tag(
                launcher,
                "mlflow.note.content",
                f"Resumed study {study.study_name}; its trials are under run {run_id}.",
            )
    # Params cannot change once logged; this invocation's settings (n_trials...) may.
    settings = " ".join(f"{k}={v}" for k, v in _sweep_params(sweep).items())
    client.set_tag(run_id, "sweep.last_invocation", settings)
    return run_id


def _existing_parent(client: MlflowClient, study: optuna.Study) -> str | None:
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id:
        try:
            if client.get_run(run_id).info.lifecycle_stage == "active":
                return str(run_id)
        except mlflow.exceptions.MlflowException:
            pass  # another tracking store, or the run was deleted: look by tag, else create
    found = client.search_runs(
        [_experiment_id()],
        filter_string=(
            f"tags.`sweep.role` = 'parent' and tags.`optuna.study_name` = '{study.study_name}'"
        ),
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    if found:
        study.set_user_attr(PARENT_ATTR, found[0].info.run_id)
        return found[0].info.run_id
    return None


def _experiment_id() -> str:
    """The experiment new runs go to (MLFLOW_EXPERIMENT_ID/NAME, `mlflow run`'s, or Default)."""
    return str(mlflow.tracking.fluent._get_experiment_id() or "0")


def _sweep_params(sweep: SweepConfig) -> dict[str, Any]:
    return dataclasses.asdict(sweep)
