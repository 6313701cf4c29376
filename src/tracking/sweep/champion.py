"""The study's challengers for ``@champion``, through one path for every caller.

``promote_best`` is that path: the study's best complete trial's model is registered and scored
against the current champion on the same test rows (``tracking.sweep.promotion``), and the
decision is written into the study's parent run. ``track_study`` (a notebook's study) calls it;
``promote_winners`` (the sweep) calls it too, then lets the best trial's refit challenge, its
decision under ``promotion.refit.*``. When the trials were cross-validated
(``tracking.sweep.crossval``), the refit on every training row is the one challenger: the best
trial's own model was fit on one fold's training rows only.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from tracking.config import tags as T
from tracking.config.train import PROMOTION_METRIC
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.sweep.crossval import CvScore, folds_for
from tracking.sweep.found import describe
from tracking.sweep.opening import StudyRun
from tracking.sweep.promotion import Promotion, promote, record, score_rows
from tracking.sweep.refit import EPOCHS_FROM_TAG, OF_TRIAL_TAG, Refit, refit_best

log = logging.getLogger(__name__)


class Promotions(NamedTuple):
    best: Promotion | None = None  # the best trial's model
    refit: Promotion | None = None  # its refit on the training and validation rows


def best_with_model(study: optuna.Study) -> FrozenTrial | None:
    """The study's best complete trial, when it logged a model (else None, and the log says)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        log.info("no promotion: no complete trial")
        return None
    best = study.best_trial
    if not best.user_attrs.get("model_uri"):
        log.warning("no promotion: best trial %d logged no model", best.number)
        return None
    return best


def promote_best(
    tracker: Tracker,
    study: optuna.Study,
    name: str,
    dataset: Dataset,
    parent_run_id: str,
    *,
    task: str = "classification",
) -> Promotion | None:
    """The study's best complete trial's model challenges ``name@champion``, both scored fresh
    on ``dataset``'s test split by the task's metric; the decision is recorded on the parent
    run. None when there is no complete trial with a model."""
    best = best_with_model(study)
    if best is None:
        return None
    metric = PROMOTION_METRIC[task]  # test_accuracy, or test_mae for regression
    promotion = promote(
        tracker,
        name,
        run_id=best.user_attrs[T.RUN_ID_ATTR],
        model_uri=best.user_attrs["model_uri"],
        tags={
            T.OPTUNA_STUDY_NAME: study.study_name,
            T.OPTUNA_TRIAL_NUMBER: str(best.number),
            metric: repr(best.user_attrs.get(metric, float("nan"))),
            **_cv_tags(best),
        },
        scorer=lambda uri: score_rows(tracker, uri, dataset, metric),
        metric=metric,
    )
    record(tracker, promotion, parent_run_id)
    return promotion


def promote_winners(run: StudyRun, dataset: Dataset) -> Promotions:
    """The best trial's model challenges @champion; then, with ``refit``, its refit on the
    training and validation rows challenges whichever holds @champion after that. With
    cross-validated trials only the refit challenges (the best trial's model when the refit
    logged none). The parent run's description then says what the sweep found
    (``tracking.sweep.found``)."""
    promotions = _promote_winners(run, dataset)
    describe(run, dataset, promotions.best, promotions.refit)
    return promotions


def _promote_winners(run: StudyRun, dataset: Dataset) -> Promotions:
    name = run.base.model_name  # "auto" resolved: mnist-mlp, digits-mlp, <csv stem>-mlp
    if not name:
        log.info("no promotion: registered_model_name is empty")
        return Promotions()
    tracker, study, task = run.tracker, run.study, run.base.task
    if folds_for(run.sweep.cv_folds, dataset) > 0:
        best = best_with_model(study)
        refit = refit_best(run, dataset) if best is not None else None
        if best is None or refit is None:  # no refit to promote: the best trial's own model
            return Promotions(promote_best(tracker, study, name, dataset, run.parent_run_id,
                                           task=task))  # fmt: skip
        return Promotions(refit=promote_refit(run, dataset, name, refit, best))
    promotion = promote_best(tracker, study, name, dataset, run.parent_run_id, task=task)
    if promotion is None:
        return Promotions()
    refit = refit_best(run, dataset) if run.sweep.refit else None
    if refit is None:
        return Promotions(promotion)
    return Promotions(promotion, promote_refit(run, dataset, name, refit, study.best_trial))


def promote_refit(
    run: StudyRun, dataset: Dataset, name: str, refit: Refit, best: FrozenTrial
) -> Promotion:
    """The refit challenges @champion, its registered version tagged with the trial it refits
    and that trial's cross-validated score (``cv_mean``, ``cv_std``) when it has one."""
    tracker, metric = run.tracker, PROMOTION_METRIC[run.base.task]
    if "cv_values" in best.user_attrs:  # the score it was chosen by
        cv = CvScore(tuple(best.user_attrs["cv_values"]))
        tracker.log_metrics(refit.run_id, cv.metrics(run.base.monitor))
    promotion = promote(
        tracker,
        name,
        run_id=refit.run_id,
        model_uri=refit.model_uri,
        tags={
            T.OPTUNA_STUDY_NAME: run.study.study_name,
            OF_TRIAL_TAG: str(refit.trial),
            EPOCHS_FROM_TAG: refit.epochs_from,
            **_cv_tags(best),
        },
        scorer=lambda uri: score_rows(tracker, uri, dataset, metric),
        metric=metric,
    )
    record(tracker, promotion, run.parent_run_id, prefix="refit.")
    return promotion


def _cv_tags(trial: FrozenTrial) -> dict[str, str]:
    """The trial's cross-validated value and spread, as a version's tags (none: one split)."""
    attrs = trial.user_attrs
    if "cv_mean" not in attrs:
        return {}
    return {
        "cv_mean": repr(attrs["cv_mean"]),
        "cv_std": repr(attrs["cv_std"]),
        "cv_folds": str(len(attrs.get("cv_values", ()))),
    }
