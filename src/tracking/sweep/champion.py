"""The study's challengers for ``@champion``: its best trial's model, then that trial's refit.

Each is registered and scored against the current champion on the same test rows
(``tracking.sweep.promotion``); the decision is written into the study's parent run, the refit's
under ``promotion.refit.*``.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from optuna.trial import TrialState

from tracking.config import tags as T
from tracking.config.train import PROMOTION_METRIC
from tracking.data.datasets import Dataset
from tracking.sweep.opening import StudyRun
from tracking.sweep.promotion import Promotion, promote, record, score_rows
from tracking.sweep.refit import EPOCHS_FROM_TAG, OF_TRIAL_TAG, refit_best
from tracking.sweep.significance import Scored

log = logging.getLogger(__name__)


class Promotions(NamedTuple):
    best: Promotion | None = None  # the best trial's model
    refit: Promotion | None = None  # its refit on the training and validation rows


def promote_winners(run: StudyRun, dataset: Dataset) -> Promotions:
    """The best trial's model challenges @champion; then, with ``refit``, its refit on the
    training and validation rows challenges whichever holds @champion after that."""
    study, tracker = run.study, run.tracker
    name = run.base.model_name  # "auto" resolved: mnist-mlp, digits-mlp, <csv stem>-mlp
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not name or not complete:
        log.info(
            "no promotion: %s",
            "registered_model_name is empty" if not name else "no complete trial",
        )
        return Promotions()
    best = study.best_trial
    metric = PROMOTION_METRIC[run.base.task]  # test_accuracy, or test_mae for regression
    model_uri = best.user_attrs.get("model_uri")
    if not model_uri:
        log.warning("no promotion: best trial %d logged no model", best.number)
        return Promotions()

    def scorer(uri: str) -> Scored:
        return score_rows(tracker, uri, dataset, metric)

    promotion = promote(
        tracker,
        name,
        run_id=best.user_attrs[T.RUN_ID_ATTR],
        model_uri=model_uri,
        tags={
            T.OPTUNA_STUDY_NAME: study.study_name,
            T.OPTUNA_TRIAL_NUMBER: str(best.number),
            metric: repr(best.user_attrs.get(metric, float("nan"))),
        },
        scorer=scorer,
        metric=metric,
    )
    record(tracker, promotion, run.parent_run_id)
    refit = refit_best(run, dataset) if run.sweep.refit else None
    if refit is None:
        return Promotions(promotion)
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
    record(tracker, refit_promotion, run.parent_run_id, prefix="refit.")
    return Promotions(promotion, refit_promotion)
