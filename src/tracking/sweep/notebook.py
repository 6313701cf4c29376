"""Your own Optuna ``study.optimize``, from Python or a notebook, tracked as ``sweep`` tracks one.

    def fit_trial(trial, run):
        model = build(filters=trial.suggest_categorical("filters", [8, 16]))
        model.fit(x_train, y_train, validation_split=0.1, epochs=5, callbacks=run.callbacks)

    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    with tracking.track_study(study, fit_trial, train=(x_train, y_train),
                              test=(x_test, y_test)) as objective:
        study.optimize(objective, n_trials=8)

The study gets a parent run (``tracking.sweep.parent``); every trial a child run
(``tracking.sweep.objective.trial_run``) in which ``fit_trial(trial, run)`` fits under
``tracking.track``, with Optuna's pruning callback (``tracking.sweep.pruning``) among
``run.callbacks``: per-epoch pruning, reported at step = Keras's epoch index. A trial's value
is the best ``monitor`` it reached. When the block ends the parent run gets the study's
summary (``tracking.sweep.summary``) and the best trial's model challenges ``@champion``
(``tracking.sweep.champion.promote_best``: moved only beyond noise on the test split).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import optuna
from optuna.trial import Trial

from tracking.config import tags as T
from tracking.config.errors import ConfigError
from tracking.door.tracker import Tracker
from tracking.report.artifacts import wait_for_figures
from tracking.run.fit_options import TrackOptions
from tracking.run.notebook import TrackedRun, track
from tracking.sweep.champion import promote_best
from tracking.sweep.objective import RUN_ID_ATTR, StateTagger, tag_pruned, trial_run, trial_value
from tracking.sweep.parent import open_parent
from tracking.sweep.promotion import Promotion
from tracking.sweep.pruning import PruningCallback
from tracking.sweep.space import direction
from tracking.sweep.summary import log_summary

__all__ = ["TrackOptions", "TrackedObjective", "track_study"]

FitTrial = Callable[[Trial, TrackedRun], Any]


class TrackedObjective:
    """The objective ``track_study`` yields: ``study.optimize(objective, ...)``. After the
    block, ``promotion`` says whether the best trial took ``@champion`` and why."""

    def __init__(
        self, fit_trial: FitTrial, tracker: Tracker, parent_run_id: str, options: TrackOptions
    ) -> None:
        self.fit_trial, self.tracker, self.parent_run_id = fit_trial, tracker, parent_run_id
        # The best trial's model is registered at the end, not every trial's.
        self.options = dataclasses.replace(options, registered_model_name="")
        self.promotion: Promotion | None = None

    def __call__(self, trial: Trial) -> float:
        run_id, _ = trial_run(self.tracker, trial, self.parent_run_id, None)
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        callback = PruningCallback(trial, self.options.monitor)
        with self.tracker.ending(run_id):
            with track(
                self.options, run_id=run_id, extra_callbacks=(callback,), tracker=self.tracker
            ) as run:
                self.fit_trial(trial, run)
                self.tracker.log_params(run_id, trial.params)  # what the trial drew
            assert run.result is not None
            tag_pruned(self.tracker, run_id, run.result, callback)
        return trial_value(trial, run.result, callback)


@contextlib.contextmanager
def track_study(
    study: optuna.Study,
    fit_trial: FitTrial,
    options: TrackOptions | None = None,
    /,
    *,
    tracker: Tracker | None = None,
    **fields: Any,
) -> Iterator[TrackedObjective]:
    """Track the trials ``study.optimize(objective)`` runs in the block, then summarise the
    study on its parent run and promote its best trial.

    ``fit_trial(trial, run)`` draws its hyperparameters from ``trial``, builds a compiled
    Keras model and calls ``fit`` with ``callbacks=run.callbacks``. The data and how the runs
    read them are ``tracking.track``'s: a ``TrackOptions``, or its fields as keywords;
    ``registered_model_name`` (default: the study's name) gets the best trial's model (``""``:
    none). The study's direction must be ``monitor``'s (``minimize`` for a loss). The parent
    run ends with the block: FINISHED, KILLED on Ctrl-C, else FAILED.
    """
    options = TrackOptions.of(options, fields)
    monitor, wanted = options.monitor, direction(options.monitor)
    if study.direction.name.lower() != wanted:
        raise ConfigError(
            "study", study.study_name, f"is {study.direction.name.lower()}d, but "
            f"monitor={monitor!r} is {wanted}d", f"create it with direction={wanted!r}",
        )  # fmt: skip
    tracker = tracker or Tracker()
    dataset = options.dataset()
    given = options.registered_model_name
    name = study.study_name if given is None else given
    params = {"dataset": options.data_name, "task": options.task, "monitor": monitor,
              "patience": str(options.patience)}  # fmt: skip
    parent = open_parent(tracker, study, params, f"registered_model_name={name}")
    tracker.set_tags(parent, {T.OPTUNA_STUDY_NAME: study.study_name})
    first = len(study.trials)
    objective = TrackedObjective(fit_trial, tracker, parent, options)
    with tracker.ending(parent):
        try:
            yield objective
        finally:
            wait_for_figures()  # the pruned trials' curves, logged in the background
            StateTagger(tracker).sync(study, first)
        log_summary(tracker, study, parent, monitor)
        if name:  # the sweep's one promotion path (tracking.sweep.champion)
            objective.promotion = promote_best(
                tracker, study, name, dataset, parent, task=options.task
            )
