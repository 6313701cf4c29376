"""A sweep: the study and its parent run (created once), trials, then summary and promotion.

Each trial is ``training.train`` in a child of the study's parent run (``tracking.sweep.objective``,
``tracking.sweep.opening``). ``n_trials`` caps the study's total, so running the same command again
resumes it. ``run_sweep`` is the one runner, whatever the number of workers: the trials run in
this process (``tracking.sweep.trials``) or in worker processes (``tracking.sweep.workers``);
the counting, the deadline, the stale trials, the summary and the promotion are the same.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import optuna
from optuna.trial import TrialState

from tracking.config import tags as T
from tracking.config.errors import Terminated
from tracking.config.train import TrainConfig
from tracking.data.datasets import Dataset, load_dataset
from tracking.door.tracker import Tracker
from tracking.sweep.champion import Promotions, promote_winners
from tracking.sweep.config import SweepConfig, in_this_process, named
from tracking.sweep.faults import end_orphan_runs
from tracking.sweep.objective import Objective
from tracking.sweep.opening import StudyRun, open_study
from tracking.sweep.promotion import Promotion
from tracking.sweep.stopping import SweepStop, describe, why_stopped
from tracking.sweep.storage import open_sweep_storage, study_lock
from tracking.sweep.summary import log_summary, state_counts
from tracking.sweep.trials import Deadline, counted, finished, optimize, remaining
from tracking.sweep.workers import WorkerProcesses, run_workers

log = logging.getLogger(__name__)


class SweepResult(NamedTuple):
    study_name: str
    parent_run_id: str
    counts: dict[str, int]  # trials of the whole study by state
    best_number: int | None
    best_value: float | None
    promotion: Promotion | None
    refit_promotion: Promotion | None = None  # the refit of the best trial, as a challenger
    stop_reason: SweepStop | None = None  # why the study stopped (tag stop_reason on the parent)


def run_sweep(
    base: TrainConfig,
    sweep: SweepConfig,
    *,
    tracker: Tracker,
    storage: optuna.storages.BaseStorage | None = None,
    dataset: Dataset | None = None,
    processes: WorkerProcesses | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    show_progress_bar: bool = True,
) -> SweepResult:
    """Run (or resume) the study until it counts ``sweep.n_trials`` trials, then summarise it
    and promote its winner. Trials run in this process, or in ``sweep.workers`` processes
    started as ``processes`` says (``in_this_process``). ``pruner`` replaces the one named by
    ``sweep.pruner`` (tests; in this process only).

    The parent run ends here: FINISHED, KILLED on Ctrl-C or SIGTERM, FAILED on an error; it
    stays RUNNING only while other invocations still run trials of the study, for the last of
    them to end it."""
    sweep = named(sweep, base)  # study_name=auto: <data>-<model>-sweep
    storage = storage if storage is not None else open_sweep_storage(sweep)
    data = dataset if dataset is not None else load_dataset(base)  # once for every trial
    local = in_this_process(sweep, can_start_workers=processes is not None)
    if not local:
        tracker.allow_concurrent_writers()
    run = open_study(tracker, storage, base, sweep)
    if not remaining(run.study, sweep):
        log.info("study %s already counts n_trials=%d: summary refreshed only",
                 run.study.study_name, sweep.n_trials)  # fmt: skip
    deadline = Deadline.after(sweep.timeout)
    if local:
        if pruner is not None:
            run.study.pruner = pruner
        objective = Objective(base, sweep, data, tracker=tracker, parent_run_id=run.parent_run_id)

        def run_more(n: int) -> None:
            optimize(run.study, objective, sweep, max_trials=n, timeout=deadline.left(),
                     show_progress_bar=show_progress_bar)  # fmt: skip
    else:
        assert processes is not None

        def run_more(n: int) -> None:
            run_workers(run, processes, deadline)

    status: str | None = "FAILED"
    promotions = Promotions()
    reason: SweepStop | None = None
    try:
        settle(run, deadline, run_more)
        reason = record_stop(tracker, run, sweep, deadline)
        done, promotions = finish(run, data)
        status = "FINISHED" if done else None
    except (KeyboardInterrupt, Terminated):
        status = "KILLED"
        raise
    finally:
        if status is not None:
            tracker.end_run(run.parent_run_id, status)
    return result_of(run.study, run.parent_run_id, promotions)._replace(stop_reason=reason)


def record_stop(
    tracker: Tracker, run: StudyRun, sweep: SweepConfig, deadline: Deadline
) -> SweepStop | None:
    """Why the study stopped, tagged on its parent run (``stop_reason``) and logged."""
    reason = why_stopped(run.study, sweep, counted(run.study), deadline.passed())
    if reason is not None:
        tracker.set_tags(run.parent_run_id, {T.STOP_REASON: reason})
        log.info("study %s stopped: %s", run.study.study_name, describe(reason, sweep))
    return reason


def settle(run: StudyRun, deadline: Deadline, run_more: Callable[[int], None]) -> None:
    """Run trials (``run_more``) until the study counts ``n_trials`` or the deadline passes,
    then wait for the ones other processes are running. A worker that died leaves a trial
    without heartbeat: after ``grace_period`` it is failed and queued again
    (``tracking.sweep.faults``), and run here. Without heartbeats (``heartbeat_interval=0``)
    a dead worker cannot be told from a slow one: no waiting then."""
    study, sweep = run.study, run.sweep
    heartbeats = sweep.heartbeat_interval > 0
    while True:
        if heartbeats:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        if todo := remaining(study, sweep):
            if deadline.passed():
                return
            before = finished(study)
            run_more(todo)
            if finished(study) == before:
                # Nothing finished: the timeout passed, or every trial raised (a FAIL does not
                # count, so trying again would never end). The next invocation goes on.
                return
            continue
        if not heartbeats or not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(min(5.0, sweep.heartbeat_interval))


def finish(run: StudyRun, dataset: Dataset) -> tuple[bool, Promotions]:
    """The summary and the promotions (best trial, then its refit), by the last process to
    finish (under the study's lock, so two finishing at once do not both promote). False while
    other processes still run trials."""
    with study_lock(run.sweep.storage):
        end_orphan_runs(run.tracker, run.study)
        if run.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            log.info("other workers are still running trials; the last one summarises")
            return False, Promotions()
        log_summary(run.tracker, run.study, run.parent_run_id, run.base.monitor)
        return True, promote_winners(run, dataset)


def result_of(study: optuna.Study, parent: str, promotions: Promotions) -> SweepResult:
    counts = state_counts(study.get_trials(deepcopy=False))
    best = study.best_trial if counts["COMPLETE"] else None
    return SweepResult(
        study.study_name,
        parent,
        counts,
        None if best is None else best.number,
        None if best is None else best.value,
        promotions.best,
        promotions.refit,
    )
