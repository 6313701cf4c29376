"""Open a study and its parent run, each created exactly once however many processes start it.

``open_study`` (the process that runs the study) creates or finds both and returns a
``StudyRun``, what the rest of the sweep is handed; ``load_study`` (every process, worker
processes too) loads the study with a sampler of the process's own and the sweep's pruner, and
hands the tracker to the storage's stale-trial callback (``tracking.sweep.faults``). A new
study's first trial is the base configuration (``enqueued_base``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.sweep.config import SweepConfig
from tracking.sweep.parent import PARENT_ATTR, find_or_create_parent
from tracking.sweep.pruning import make_pruner
from tracking.sweep.samplers import make_sampler
from tracking.sweep.space import base_params, direction
from tracking.sweep.storage import stale_trials

log = logging.getLogger(__name__)
PARENT_WAIT = 120.0  # seconds a process waits for the study's creator to publish the parent run


@dataclass(frozen=True)
class StudyRun:
    """A study being run: where it logs, the Optuna study, its configuration, its parent run."""

    tracker: Tracker
    study: optuna.Study
    base: TrainConfig
    sweep: SweepConfig
    parent_run_id: str


def sampler_seed(sweep: SweepConfig, worker: int, n_existing: int) -> int:
    """A seed of its own for every worker and every resume (the same seed on every worker
    repeats trials, optuna#4714; a resume must not replay the first invocation's)."""
    key = f"{sweep.sampler_seed}/{worker}/{n_existing}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big")


def load_study(
    storage: optuna.storages.BaseStorage,
    sweep: SweepConfig,
    *,
    tracker: Tracker,
    worker: int = 0,
) -> optuna.Study:
    """The existing study, with this worker's sampler and the sweep's pruner. A dead worker's
    run is ended through ``tracker`` by whichever process notices it."""
    if (handler := stale_trials(storage)) is not None:
        handler.tracker = tracker
    study = optuna.load_study(study_name=sweep.study_name, storage=storage)
    seed = sampler_seed(sweep, worker, len(study.trials))
    study.sampler = make_sampler(sweep, seed)
    study.pruner = make_pruner(sweep)
    return study


def open_study(
    tracker: Tracker,
    storage: optuna.storages.BaseStorage,
    base: TrainConfig,
    sweep: SweepConfig,
) -> StudyRun:
    """The study and its parent run, each created exactly once however many processes start at
    the same instant: creating a study is atomic in every Optuna storage, so the process whose
    creation succeeds makes the parent run and publishes its id; the others wait for it."""
    try:
        wanted = optuna.study.StudyDirection[direction(base.monitor).upper()]
        storage.create_new_study([wanted], sweep.study_name)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    study = load_study(storage, sweep, tracker=tracker)
    log.info(
        "study %s %s in %s", sweep.study_name, "created" if created else "found", sweep.storage
    )
    if created:
        if first := enqueued_base(base, sweep):
            # The base configuration (the defaults of a single run) is the first trial: the
            # sweep's champion has it to beat, and TPE starts from a known good point.
            study.enqueue_trial(first, user_attrs={"base_configuration": True})
        # Five attrs, which optuna-dashboard lists on one page with the parent run's id.
        study.set_user_attr("monitor", base.monitor)
        study.set_user_attr("cv_folds", sweep.cv_folds)
        for name, value in _data_and_model(base).items():
            study.set_user_attr(name, value)
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([base.monitor])  # optuna-dashboard names the objective
    else:
        if "monitor" in study.user_attrs:  # refused at once, not after waiting for a parent run
            _same_study(study, base, sweep)
        _wait_for_creator(study)
        _same_study(study, base, sweep)
    parent = find_or_create_parent(tracker, study, base, sweep)
    return StudyRun(tracker, study, base, sweep, parent)


def enqueued_base(base: TrainConfig, sweep: SweepConfig) -> dict[str, Any]:
    """The base configuration as trial 0's params (``tracking.sweep.space.base_params``)."""
    return base_params(base, sweep)


def _data_and_model(base: TrainConfig) -> dict[str, str]:
    """What a study's trials train on and what they train, as its user attrs record them."""
    data = base.dataset
    if base.data_path:  # a file or folder: the same wherever the sweep is started from
        data = f"{base.dataset}:{Path(base.data_path).resolve()}"
    return {"data": data, "model": base.model}


def _same_study(study: optuna.Study, base: TrainConfig, sweep: SweepConfig) -> None:
    """Resuming a study means the same objective on the same data with the same model: trials
    of another are not comparable (the champion would be picked across them)."""
    _same_monitor(study, base, sweep)
    _same_folds(study, sweep)
    for name, value in _data_and_model(base).items():
        known = study.user_attrs.get(name)  # None: a study made before these were recorded
        if known is not None and known != value:
            param, given = (
                ("model", base.model) if name == "model" else _data_param(base, str(known))
            )
            raise ConfigError(
                param,
                given,
                f"differs from the {name} of existing study {sweep.study_name!r} ({known})",
                "pass a new -P study_name (study_name=auto names the study after the data and "
                "the model)",
            )


def _data_param(base: TrainConfig, known: str) -> tuple[str, str]:
    """The parameter to name when the data differs: data_path when only the file does."""
    if base.data_path and known.split(":", 1)[0] == base.dataset:
        return "data_path", base.data_path
    return "dataset", base.dataset


def _same_monitor(study: optuna.Study, base: TrainConfig, sweep: SweepConfig) -> None:
    known = study.user_attrs.get("monitor")
    if known != base.monitor or study.direction.name.lower() != direction(base.monitor):
        raise ConfigError(
            "monitor",
            base.monitor,
            f"differs from the objective of existing study {sweep.study_name!r} ({known})",
            f"pass -P monitor={known} to resume it, or a new -P study_name",
        )


def _same_folds(study: optuna.Study, sweep: SweepConfig) -> None:
    """A cross-validated mean and one split's value are not comparable: the folds stay as the
    study was created with them."""
    known = study.user_attrs.get("cv_folds")  # None: a study made before they were recorded
    if known is not None and str(known) != sweep.cv_folds:
        raise ConfigError(
            "cv_folds",
            sweep.cv_folds,
            f"differs from the folds of existing study {sweep.study_name!r} ({known})",
            f"pass -P cv_folds={known} to resume it, or a new -P study_name",
        )


def _wait_for_creator(study: optuna.Study) -> None:
    deadline = time.monotonic() + PARENT_WAIT
    while PARENT_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.5)
    if PARENT_ATTR not in study.user_attrs:
        log.warning("study %s has no parent run yet; creating one", study.study_name)
