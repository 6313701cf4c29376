"""The study's parent MLflow run: created once, found again on every resume.

Its id is a study user attr (``mlflow_parent_run_id``); the tags ``sweep.role=parent`` and
``optuna.study_name`` find it too (e.g. after the attr was lost). Under ``mlflow run`` the run
MLflow opened for the command becomes the parent the first time; on a resume that run is tagged
``sweep.role=launcher`` and points at the parent.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import optuna

from tracking import tags as T
from tracking.config import TrainConfig
from tracking.sweep.config import SweepConfig
from tracking.tracker import Tracker

log = logging.getLogger(__name__)
PARENT_ATTR = "mlflow_parent_run_id"


def find_or_create_parent(
    tracker: Tracker, study: optuna.Study, base: TrainConfig, sweep: SweepConfig
) -> str:
    """The study's parent run (reopened as RUNNING), created once per study."""
    run_id = _existing_parent(tracker, study)
    launcher = tracker.launcher_run_id()  # the run `mlflow run` opened for this command
    resumed = run_id is not None
    # A parent already RUNNING has another supervisor (another machine's): it samples there.
    sample = base.system_metrics and (run_id is None or tracker.run_status(run_id) != "RUNNING")
    if run_id is None:
        tags = {T.SWEEP_ROLE: "parent", T.OPTUNA_STUDY_NAME: study.study_name}
        # first invocation under `mlflow run`: its run becomes the parent
        run_id = tracker.start_run(study.study_name, tags=tags)
        tracker.log_params(run_id, {**base.as_params(), **_sweep_params(sweep)})
        study.set_user_attr(PARENT_ATTR, run_id)
        log.info("study %s: new parent run %s", study.study_name, run_id)
    else:
        tracker.reopen_run(run_id)
        log.info(
            "study %s resumed (%d trials so far): parent run %s",
            study.study_name,
            len(study.trials),
            run_id,
        )
        if launcher and launcher != run_id:  # a resume under `mlflow run`: point at the parent
            tracker.rename_run(launcher, f"{study.study_name}-resume")
            tracker.set_tags(launcher, {T.SWEEP_ROLE: "launcher", T.SWEEP_PARENT_RUN_ID: run_id})
            tracker.set_description(
                launcher, f"Resumed study {study.study_name}; its trials are under run {run_id}."
            )
    if sample:  # this supervisor's machine, until the parent run ends (Tracker.end_run)
        tracker.log_system_metrics(run_id, base.system_metrics_interval, resume=resumed)
    # Params cannot change once logged; this invocation's settings (n_trials...) may.
    settings = " ".join(f"{k}={v}" for k, v in _sweep_params(sweep).items())
    tracker.set_tags(run_id, {T.SWEEP_LAST_INVOCATION: settings})
    return run_id


def _existing_parent(tracker: Tracker, study: optuna.Study) -> str | None:
    run_id = study.user_attrs.get(PARENT_ATTR)
    if run_id and tracker.run_is_active(str(run_id)):
        return str(run_id)
    # another tracking store, or the run was deleted: look by tag, else create
    found = tracker.find_runs(
        {T.SWEEP_ROLE: "parent", T.OPTUNA_STUDY_NAME: study.study_name}, max_results=1
    )
    if found:
        study.set_user_attr(PARENT_ATTR, found[0].run_id)
        return found[0].run_id
    return None


def _sweep_params(sweep: SweepConfig) -> dict[str, Any]:
    return dataclasses.asdict(sweep)
