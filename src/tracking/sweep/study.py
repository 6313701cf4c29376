"""A sweep: open the storage, load or create the study, run trials until it holds ``n_trials``.

Each trial is ``training.train`` in a child of the study's parent run (``tracking.sweep.objective``,
``tracking.sweep.parent``). ``n_trials`` caps the study's total, so running the same command again
resumes it. At the end the parent gets the summary and the best model may become champion.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from tracking import tags as T
from tracking.config import TrainConfig
from tracking.data import Dataset, load_dataset
from tracking.errors import ConfigError
from tracking.scoring import score_model_uri
from tracking.sweep.config import SweepConfig
from tracking.sweep.objective import Objective, StateTagger, progress_line
from tracking.sweep.parent import find_or_create_parent
from tracking.sweep.promotion import Promotion, promote, record
from tracking.sweep.pruning import make_pruner
from tracking.sweep.space import direction
from tracking.sweep.storage import open_storage
from tracking.sweep.summary import log_summary, state_counts
from tracking.tracker import Tracker

log = logging.getLogger(__name__)


def load_or_create_study(
    storage: optuna.storages.BaseStorage, base: TrainConfig, sweep: SweepConfig
) -> optuna.Study:
    """The study named ``sweep.study_name``; refuses to resume it with another objective."""
    study = optuna.create_study(
        storage=storage,
        study_name=sweep.study_name,
        direction=direction(base.monitor),
        load_if_exists=True,
    )
    known = study.user_attrs.get("monitor")
    if known is None:
        study.set_user_attr("monitor", base.monitor)
        study.set_user_attr("dataset", base.dataset)
    elif known != base.monitor or study.direction.name.lower() != direction(base.monitor):
        raise ConfigError(
            "monitor",
            base.monitor,
            f"differs from the objective of existing study {sweep.study_name!r} ({known})",
            f"pass -P monitor={known} to resume it, or a new -P study_name",
        )
    # Offset the seed by the trials already there: a resumed study must not replay the random
    # start-up trials of its first invocation (the same seed on every worker would, optuna#4714).
    study.sampler = optuna.samplers.TPESampler(seed=sweep.sampler_seed + len(study.trials))
    study.pruner = make_pruner(sweep)
    return study


class SweepResult(NamedTuple):
    study_name: str
    parent_run_id: str
    counts: dict[str, int]  # trials of the whole study by state
    best_number: int | None
    best_value: float | None
    promotion: Promotion | None


def run_sweep(
    base: TrainConfig,
    sweep: SweepConfig,
    *,
    tracker: Tracker,
    storage: optuna.storages.BaseStorage | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    dataset: Dataset | None = None,
    show_progress_bar: bool = True,
) -> SweepResult:
    """Run (or resume) the study until it holds ``sweep.n_trials`` trials, then summarise it.

    ``pruner`` replaces the one named by ``sweep.pruner`` (tests pass tiny stubs).
    """
    storage = storage if storage is not None else open_storage(sweep.storage)
    dataset = dataset if dataset is not None else load_dataset(base)  # once for every trial
    study = load_or_create_study(storage, base, sweep)
    if pruner is not None:
        study.pruner = pruner
    first = len(study.trials)
    parent = find_or_create_parent(tracker, study, base, sweep)
    objective = Objective(base, sweep, dataset, tracker=tracker, parent_run_id=parent)
    tag_state = StateTagger(tracker)
    promotion: Promotion | None = None
    with tracker.ending(parent):
        try:
            if first < sweep.n_trials:
                study.optimize(
                    objective,
                    n_trials=sweep.n_trials - first,
                    timeout=sweep.timeout or None,
                    catch=(Exception,),  # a failed trial is a FAIL state, not the end of the sweep
                    callbacks=[
                        MaxTrialsCallback(sweep.n_trials, states=None),  # other workers count too
                        tag_state,
                        lambda s, t: log.info(progress_line(s, t, base.monitor)),
                    ],
                    gc_after_trial=True,
                    show_progress_bar=show_progress_bar,
                )
            else:
                log.info(
                    "study %s already holds %d trials (n_trials=%d): summary refreshed only",
                    study.study_name,
                    first,
                    sweep.n_trials,
                )
            if objective.monitor_error is not None:
                raise objective.monitor_error
            log_summary(tracker, study, parent, base.monitor)
            promotion = _promote(tracker, study, base, dataset, parent)
        finally:
            tag_state.sync(study, first)
    counts = state_counts(study.get_trials(deepcopy=False))
    best = study.best_trial if counts["COMPLETE"] else None
    return SweepResult(
        study.study_name,
        parent,
        counts,
        None if best is None else best.number,
        None if best is None else best.value,
        promotion,
    )


def _promote(
    tracker: Tracker, study: optuna.Study, base: TrainConfig, dataset: Dataset, parent_run_id: str
) -> Promotion | None:
    name = base.registered_model_name
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not name or not complete:
        log.info(
            "no promotion: %s",
            "registered_model_name is empty" if not name else "no complete trial",
        )
        return None
    best = study.best_trial
    model_uri = best.user_attrs.get("model_uri")
    if not model_uri:
        log.warning("no promotion: best trial %d logged no model", best.number)
        return None
    promotion = promote(
        tracker,
        name,
        run_id=best.user_attrs["mlflow_run_id"],
        model_uri=model_uri,
        tags={
            T.OPTUNA_STUDY_NAME: study.study_name,
            T.OPTUNA_TRIAL_NUMBER: str(best.number),
            "test_accuracy": repr(best.user_attrs.get("test_accuracy", float("nan"))),
        },
        scorer=lambda uri: score_model_uri(uri, dataset).test_accuracy,
    )
    record(tracker, promotion, parent_run_id)
    return promotion
