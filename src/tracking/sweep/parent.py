"""The study's parent MLflow run: created once, found again on every resume.

Its id is a study user attr (``mlflow_parent_run_id``); the tags ``sweep.role=parent`` and
``optuna.study_name`` find it too (e.g. after the attr was lost). Under ``mlflow run`` the run
MLflow opened for the command becomes the parent the first time; on a resume that run is tagged
``sweep.role=launcher`` and points at the parent.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import optuna

from tracking.config import tags as T
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig

log = logging.getLogger(__name__)
PARENT_ATTR = "mlflow_parent_run_id"


def find_or_create_parent(
    tracker: Tracker, study: optuna.Study, base: TrainConfig, sweep: SweepConfig
) -> str:
    """The study's parent run (reopened as RUNNING), created once per study."""
    settings = " ".join(f"{k}={v}" for k, v in _sweep_params(sweep).items())
    interval = base.system_metrics_interval if base.system_metrics else None
    params = {**base.as_params(), **_sweep_params(sweep)}
    return open_parent(tracker, study, params, settings, system_metrics_interval=interval)


def open_parent(
    tracker: Tracker,
    study: optuna.Study,
    params: Mapping[str, Any],
    settings: str,
    *,
    system_metrics_interval: float | None = None,
) -> str:
    """The study's parent run (reopened as RUNNING), created once per study with ``params``;
    ``settings`` (this invocation's, which may differ from the first's) go in a tag. With
    ``system_metrics_interval`` (seconds), this process samples the machine into it."""
    run_id = _existing_parent(tracker, study)
    resumed = run_id is not None
    # A parent already RUNNING has another supervisor (another machine's): it samples there.
    sample = system_metrics_interval is not None and (
        run_id is None or tracker.run_status(run_id) != "RUNNING"
    )
    if run_id is None:
        tags = {T.SWEEP_ROLE: "parent", T.OPTUNA_STUDY_NAME: study.study_name}
        # first invocation under `mlflow run`: its run becomes the parent
        run_id = tracker.start_run(study.study_name, tags=tags)
        tracker.log_params(run_id, params)
        study.set_user_attr(PARENT_ATTR, run_id)
        log.info("study %s: new parent run %s", study.study_name, run_id)
    else:  # a resume under `mlflow run`: its run points at the parent
        tracker.resume_run(
            run_id,
            launcher_name=f"{study.study_name}-resume",
            launcher_tags={T.SWEEP_ROLE: "launcher", T.SWEEP_PARENT_RUN_ID: run_id},
            note=f"Resumed study {study.study_name}; its trials are under run {run_id}.",
        )
        log.info(
            "study %s resumed (%d trials so far): parent run %s",
            study.study_name,
            len(study.trials),
            run_id,
        )
    if sample:  # this supervisor's machine, until the parent run ends (Tracker.end_run)
        assert system_metrics_interval is not None
        tracker.log_system_metrics(run_id, system_metrics_interval, resume=resumed)
    # Params cannot change once logged; this invocation's settings (n_trials...) may.
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
