"""A sweep: the study and its parent run (created once), trials, then summary and promotion.

Each trial is ``training.train`` in a child of the study's parent run (``tracking.sweep.objective``,
``tracking.sweep.parent``). ``n_trials`` caps the study's total, so running the same command again
resumes it. ``run_sweep`` does everything in this process; ``tracking.sweep.workers`` runs the
trials in worker processes and calls the same ``open_study`` and ``finish``.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from tracking import tags as T
from tracking.config import PROMOTION_METRIC, TrainConfig
from tracking.data import Dataset, load_dataset
from tracking.errors import ConfigError, Terminated
from tracking.sweep.config import SweepConfig
from tracking.sweep.faults import end_orphan_runs, requeue
from tracking.sweep.objective import Objective, StateTagger, progress_line
from tracking.sweep.parent import PARENT_ATTR, find_or_create_parent
from tracking.sweep.promotion import Promotion, promote, record, score_rows
from tracking.sweep.pruning import make_pruner
from tracking.sweep.refit import EPOCHS_FROM_TAG, OF_TRIAL_TAG, refit_best
from tracking.sweep.search_space import entries
from tracking.sweep.significance import Scored
from tracking.sweep.space import direction
from tracking.sweep.storage import open_sweep_storage, stale_trials, study_lock
from tracking.sweep.summary import log_summary, state_counts
from tracking.tracker import Tracker

log = logging.getLogger(__name__)
# Trials that count towards n_trials: finished ones, and running ones. A killed worker's trial
# is FAIL and does not count; its retry waits (WAITING) for the next free worker to take it.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
PARENT_WAIT = 120.0  # seconds a worker waits for the study's creator to publish the parent run


class SweepResult(NamedTuple):
    study_name: str
    parent_run_id: str
    counts: dict[str, int]  # trials of the whole study by state
    best_number: int | None
    best_value: float | None
    promotion: Promotion | None
    refit_promotion: Promotion | None = None  # the refit of the best trial, as a challenger


def sampler_seed(sweep: SweepConfig, worker: int, n_existing: int) -> int:
    """A seed of its own for every worker and every resume (the same seed on every worker
    repeats trials, optuna#4714; a resume must not replay the first invocation's)."""
    key = f"{sweep.sampler_seed}/{worker}/{n_existing}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big")


def load_study(
    storage: optuna.storages.BaseStorage, base: TrainConfig, sweep: SweepConfig, worker: int = 0
) -> optuna.Study:
    """The existing study, with this worker's sampler and the sweep's pruner."""
    study = optuna.load_study(study_name=sweep.study_name, storage=storage)
    seed = sampler_seed(sweep, worker, len(study.trials))
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    study.pruner = make_pruner(sweep)
    return study


def open_study(
    tracker: Tracker,
    storage: optuna.storages.BaseStorage,
    base: TrainConfig,
    sweep: SweepConfig,
) -> tuple[optuna.Study, str]:
    """The study and its parent run, each created exactly once however many workers start at
    the same instant: creating a study is atomic in every Optuna storage, so the worker whose
    creation succeeds makes the parent run and publishes its id; the others wait for it."""
    try:
        wanted = optuna.study.StudyDirection[direction(base.monitor).upper()]
        storage.create_new_study([wanted], sweep.study_name)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        created = False
    study = load_study(storage, base, sweep)
    if (handler := stale_trials(storage)) is not None:
        handler.tracker = tracker  # a dead worker's run is ended by whoever notices it
    log.info(
        "study %s %s in %s", sweep.study_name, "created" if created else "found", sweep.storage
    )
    if created:
        if base_params := enqueued_base(base, sweep):
            # The base configuration (the defaults of a single run) is the first trial: the
            # sweep's champion has it to beat, and TPE starts from a known good point.
            study.enqueue_trial(base_params, user_attrs={"base_configuration": True})
        study.set_user_attr("monitor", base.monitor)
        study.set_user_attr("dataset", base.dataset)
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([base.monitor])  # optuna-dashboard names the objective
    else:
        _wait_for_creator(study)
        known = study.user_attrs.get("monitor")
        if known != base.monitor or study.direction.name.lower() != direction(base.monitor):
            raise ConfigError(
                "monitor",
                base.monitor,
                f"differs from the objective of existing study {sweep.study_name!r} ({known})",
                f"pass -P monitor={known} to resume it, or a new -P study_name",
            )
    return study, find_or_create_parent(tracker, study, base, sweep)


def enqueued_base(base: TrainConfig, sweep: SweepConfig) -> dict[str, Any]:
    """The base configuration's values of the searched parameters, each brought into the
    search space (a value below or above its range takes the nearest bound, a batch size the
    nearest choice; ``l2=0`` on a log range becomes ``l2_min``), and those of the entries of
    ``-P search_space`` (``Entry.base_value``)."""
    s = sweep
    choices = list(dict.fromkeys(s.batch_size_choices))
    wanted: dict[str, Any] = {}
    if s.epochs_min != s.epochs_max:
        wanted["epochs"] = min(max(base.epochs, s.epochs_min), s.epochs_max)
    if len(choices) > 1:
        wanted["batch_size"] = min(choices, key=lambda b: (abs(b - base.batch_size), b))
    patiences = list(dict.fromkeys(s.reduce_lr_patience_choices))
    if len(patiences) > 1:
        wanted["reduce_lr_patience"] = min(
            patiences, key=lambda p: (abs(p - base.reduce_lr_patience), p)
        )
    for name in ("learning_rate", "dropout", "l2"):
        low, high = getattr(s, f"{name}_min"), getattr(s, f"{name}_max")
        if low != high:
            wanted[name] = min(max(getattr(base, name), low), high)
    given = base.user_params
    for entry in entries(s.search_space):  # -P params' value, else the entry's default
        if entry.distribution != "constant":
            wanted[entry.name] = entry.base_value(given.get(entry.name))
    return wanted


def _wait_for_creator(study: optuna.Study) -> None:
    deadline = time.monotonic() + PARENT_WAIT
    while PARENT_ATTR not in study.user_attrs and time.monotonic() < deadline:
        time.sleep(0.5)
    if PARENT_ATTR not in study.user_attrs:
        log.warning("study %s has no parent run yet; creating one", study.study_name)


def optimize(
    study: optuna.Study,
    objective: Objective,
    sweep: SweepConfig,
    *,
    max_trials: int | None,
    timeout: float | None = None,
    show_progress_bar: bool = False,
    label: str = "",
) -> None:
    """Run trials until the study counts ``n_trials`` (all workers together), ``timeout``
    passes, or this process has run ``max_trials``."""
    tag_state = StateTagger(objective.tracker)
    # This invocation's trials: the new ones, and the queued ones it takes (trial 0, retries).
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    first = min([t.number for t in waiting] + [len(study.trials)])
    try:
        study.optimize(
            objective,
            n_trials=max_trials,
            timeout=timeout,
            catch=(Exception,),  # a failed trial is a FAIL state, not the end of the sweep
            callbacks=[
                MaxTrialsCallback(sweep.n_trials, states=COUNTED),
                tag_state,
                lambda s, t: log.info(label + progress_line(s, t, objective.base.monitor)),
            ],
            gc_after_trial=True,
            show_progress_bar=show_progress_bar,
        )
    except KeyboardInterrupt:  # the interrupted trial continues, from its backup, next time
        requeue(study, objective.interrupted)
        raise
    finally:
        tag_state.sync(study, first)
    if objective.monitor_error is not None:
        raise objective.monitor_error


def _finished(study: optuna.Study) -> int:
    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def remaining(study: optuna.Study, sweep: SweepConfig) -> int:
    """How many more trials the study needs to count ``n_trials``."""
    return max(sweep.n_trials - len(study.get_trials(deepcopy=False, states=COUNTED)), 0)


def settle(study: optuna.Study, sweep: SweepConfig, run_more: Callable[[int], None]) -> None:
    """Run trials until the study counts ``n_trials``, then wait for the ones other workers are
    running. A worker that died leaves a trial without heartbeat: after ``grace_period`` it is
    failed and queued again (``tracking.sweep.faults``), and run here. Without heartbeats
    (``heartbeat_interval=0``) a dead worker cannot be told from a slow one: no waiting then."""
    heartbeats = sweep.heartbeat_interval > 0
    while True:
        if heartbeats:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        if todo := remaining(study, sweep):
            before = _finished(study)
            run_more(todo)
            if _finished(study) == before:
                # Nothing finished: the timeout passed, or every trial raised (a FAIL does not
                # count, so trying again would never end). The next invocation goes on.
                return
            continue
        if not heartbeats or not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(min(5.0, sweep.heartbeat_interval))


def finish(
    tracker: Tracker,
    study: optuna.Study,
    base: TrainConfig,
    sweep: SweepConfig,
    dataset: Dataset,
    parent: str,
) -> tuple[bool, tuple[Promotion | None, Promotion | None]]:
    """The summary and the promotions (best trial, then its refit), by the last worker to
    finish (under the study's lock, so two finishing at once do not both promote). False while
    other workers still run trials."""
    with study_lock(sweep.storage):
        end_orphan_runs(tracker, study)
        if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            log.info("other workers are still running trials; the last one summarises")
            return False, (None, None)
        log_summary(tracker, study, parent, base.monitor)
        return True, _promote(tracker, study, base, sweep, dataset, parent)


def result_of(
    study: optuna.Study,
    parent: str,
    promotion: Promotion | None,
    refit_promotion: Promotion | None = None,
) -> SweepResult:
    counts = state_counts(study.get_trials(deepcopy=False))
    best = study.best_trial if counts["COMPLETE"] else None
    return SweepResult(
        study.study_name,
        parent,
        counts,
        None if best is None else best.number,
        None if best is None else best.value,
        promotion,
        refit_promotion,
    )


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
    """Run (or resume) the study in this process until it counts ``sweep.n_trials`` trials,
    then summarise it. ``pruner`` replaces the one named by ``sweep.pruner`` (tests)."""
    storage = storage if storage is not None else open_sweep_storage(sweep)
    data = dataset if dataset is not None else load_dataset(base)  # once for every trial
    study, parent = open_study(tracker, storage, base, sweep)
    if pruner is not None:
        study.pruner = pruner
    objective = Objective(base, sweep, data, tracker=tracker, parent_run_id=parent)
    if not remaining(study, sweep):
        log.info("study %s already counts n_trials=%d: summary refreshed only",
                 study.study_name, sweep.n_trials)  # fmt: skip
    deadline = time.monotonic() + sweep.timeout if sweep.timeout else None

    def run_more(n: int) -> None:
        left = None if deadline is None else deadline - time.monotonic()
        if left is None or left > 0:
            optimize(study, objective, sweep, max_trials=n, timeout=left,
                     show_progress_bar=show_progress_bar)  # fmt: skip

    return conclude(tracker, study, base, sweep, parent, run_more, lambda: data)


def conclude(
    tracker: Tracker,
    study: optuna.Study,
    base: TrainConfig,
    sweep: SweepConfig,
    parent: str,
    run_more: Callable[[int], None],
    dataset: Callable[[], Dataset],
) -> SweepResult:
    """Run the study to the end (``settle``), then summarise and promote. The parent run ends
    here: FINISHED, KILLED on Ctrl-C or SIGTERM, FAILED on an error; it stays RUNNING only while
    other workers still run trials (without heartbeats), for the last of them to end it."""
    status: str | None = "FAILED"
    promotion, refit_promotion = None, None
    try:
        settle(study, sweep, run_more)
        done, (promotion, refit_promotion) = finish(tracker, study, base, sweep, dataset(), parent)
        status = "FINISHED" if done else None
    except (KeyboardInterrupt, Terminated):
        status = "KILLED"
        raise
    finally:
        if status is not None:
            tracker.end_run(parent, status)
    return result_of(study, parent, promotion, refit_promotion)


def _promote(
    tracker: Tracker,
    study: optuna.Study,
    base: TrainConfig,
    sweep: SweepConfig,
    dataset: Dataset,
    parent_run_id: str,
) -> tuple[Promotion | None, Promotion | None]:
    """The best trial's model challenges @champion; then, with ``refit``, its refit on the
    training and validation rows challenges whichever holds @champion after that."""
    name = base.model_name  # "auto" resolved: mnist-mlp, digits-mlp, <csv stem>-mlp
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not name or not complete:
        log.info(
            "no promotion: %s",
            "registered_model_name is empty" if not name else "no complete trial",
        )
        return None, None
    best = study.best_trial
    metric = PROMOTION_METRIC[base.task]  # test_accuracy, or test_mae for regression
    model_uri = best.user_attrs.get("model_uri")
    if not model_uri:
        log.warning("no promotion: best trial %d logged no model", best.number)
        return None, None

    def scorer(uri: str) -> Scored:
        return score_rows(tracker, uri, dataset, metric)

    promotion = promote(
        tracker,
        name,
        run_id=best.user_attrs["mlflow_run_id"],
        model_uri=model_uri,
        tags={
            T.OPTUNA_STUDY_NAME: study.study_name,
            T.OPTUNA_TRIAL_NUMBER: str(best.number),
            metric: repr(best.user_attrs.get(metric, float("nan"))),
        },
        scorer=scorer,
        metric=metric,
    )
    record(tracker, promotion, parent_run_id)
    if not sweep.refit:
        return promotion, None
    refit = refit_best(tracker, study, base, sweep, dataset, parent_run_id)
    if refit is None:
        return promotion, None
    refit_promotion = promote(
        tracker,
        name,
        run_id=refit.run_id,
        model_uri=refit.model_uri,
        tags={
            T.OPTUNA_STUDY_NAME: study.study_name,
            OF_TRIAL_TAG: str(refit.trial),
            EPOCHS_FROM_TAG: refit.epochs_from,
        },
        scorer=scorer,
        metric=metric,
    )
    record(tracker, refit_promotion, parent_run_id, prefix="refit.")
    return promotion, refit_promotion
