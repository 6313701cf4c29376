"""Register a sweep's best model and move the ``champion`` alias only when it is better
beyond noise.

Both sides are scored fresh on the same test split with the same code (``score_rows``): the
challenger from its registered version, the current champion pulled from the registry as
``models:/NAME@champion``, on the metric that fits the task (``config.PROMOTION_METRIC``: test
accuracy, higher is better; test MAE, lower is better), row by row. ``decide`` is the rule: the
challenger takes ``@champion`` only when it is better by the metric and a paired test on the same
test rows says so with p < 0.05 (``tracking.sweep.significance``: McNemar's exact test for a
classifier, the paired t-test on per-row absolute errors for regression). A challenger within
noise is a tie, and a tie keeps the current champion; ``promotion.reason`` gives both 95 %
intervals and the test's p-value either way. A champion that cannot be scored on this test
split (for instance one registered before its model took raw rows, or on other columns) cannot
be compared: the challenger is promoted, and the reason says the old champion was incomparable
and why. The registry refuses a new version with other inputs
(``tracking.run.registry.check_target``), so this only happens to versions registered without that
check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from tracking.config import tags as T
from tracking.config.train import TEST_METRIC_MODES
from tracking.data.datasets import Dataset
from tracking.door.tracker import Tracker
from tracking.run import registry
from tracking.sweep.significance import ALPHA, Scored, better_beyond_noise, interval

log = logging.getLogger(__name__)
ALIAS = "champion"

Scorer = Callable[[str], Scored]  # model URI -> the promotion metric, row by row


class Promotion(NamedTuple):
    name: str
    version: str
    promoted: bool
    reason: str
    challenger_value: float
    champion_version: str | None  # the version that held the alias before this decision
    champion_value: float | None
    metric: str = "test_accuracy"  # what both were scored on
    challenger_interval: tuple[float, float] | None = None  # 95 %
    champion_interval: tuple[float, float] | None = None
    p_value: float | None = None  # of the paired test, when there was a champion to compare


def score_rows(tracker: Tracker, model_uri: str, dataset: Dataset, metric: str) -> Scored:
    """``model_uri`` loaded fresh from ``tracker``'s stores and scored on the test split:
    ``metric`` and, per row, whether the label was right (classification) or the absolute error
    (regression)."""
    from tracking.run.scoring import predict_test, score_predictions

    predictions = predict_test(tracker.load_model(model_uri), dataset)
    value = score_predictions(predictions, dataset).metrics[metric]
    if dataset.regression:
        errors = np.abs(predictions.reshape(len(dataset.y_test)) - dataset.y_test)
        return Scored(value, errors.astype(np.float64))
    return Scored(value, predictions.argmax(axis=1) == dataset.y_test)


def _said(scored: Scored) -> str:
    low, high = interval(scored)
    return f"{scored.value:.4f} (95 % CI {low:.4f}-{high:.4f})"


def decide(
    challenger: Scored, champion: Scored | None, metric: str
) -> tuple[bool, str, float | None]:
    """Promote when there is no champion, or when the challenger is better by ``metric``
    (higher for test_accuracy and test_r2, lower for test_mae, test_rmse and test_loss) beyond
    noise: the paired test on the same rows gives p < ALPHA. Else keep the champion (a tie within
    noise keeps it too). Returns (promote, reason, p-value)."""
    said = metric.replace("_", " ")
    if champion is None:
        return True, f"no {ALIAS} yet; challenger {said} {_said(challenger)}", None
    higher = TEST_METRIC_MODES[metric] == "max"
    promoted, comparison = better_beyond_noise(challenger, champion, higher)
    both = (
        f"challenger {said} {_said(challenger)} vs @{ALIAS} {_said(champion)}; "
        f"{comparison.test} p={comparison.p_value:.3g} ({comparison.detail})"
    )
    if promoted:
        verdict = f"better beyond noise (p < {ALPHA:g})"
    elif comparison.p_value >= ALPHA:
        verdict = f"within noise (p >= {ALPHA:g}): a tie keeps @{ALIAS}"
    else:
        verdict = f"worse beyond noise: keeps @{ALIAS}"
    return promoted, f"{verdict}: {both}", comparison.p_value


def version_for_run(
    tracker: Tracker, name: str, run_id: str, model_uri: str, tags: dict[str, str]
) -> str:
    """The registered version of this run's model, registering it only once (resumes re-run)."""
    existing = tracker.versions_of_run(name, run_id)
    if existing:
        return existing[-1]
    return registry.register(tracker, model_uri, name, run_id=run_id, tags=tags)


def promote(
    tracker: Tracker,
    name: str,
    *,
    run_id: str,
    model_uri: str,
    tags: dict[str, str],
    scorer: Scorer,
    metric: str = "test_accuracy",
) -> Promotion:
    """Register the challenger (tagged with ``tags``) and decide whether it becomes champion,
    scoring both with ``scorer`` (the value of ``metric``)."""
    version = version_for_run(tracker, name, run_id, model_uri, tags)
    challenger = scorer(f"models:/{name}/{version}")
    current = tracker.alias_version(name, ALIAS)
    champion_version = None if current is None else str(current.version)
    if champion_version == version:
        verdict = Verdict(False, f"version {version} already holds @{ALIAS}", challenger, None)
    else:
        verdict = against(scorer, challenger, name, champion_version, metric)
    if verdict.promoted:
        tracker.set_alias(name, ALIAS, version)
    decision = "promoted" if verdict.promoted else "kept"
    tracker.set_version_tags(name, version, {"promotion": f"{decision}: {verdict.reason}"})
    log.info("%s version %s: %s @%s - %s", name, version,
             "moved" if verdict.promoted else "did not move", ALIAS, verdict.reason)  # fmt: skip
    champion = verdict.champion
    return Promotion(
        name,
        version,
        verdict.promoted,
        verdict.reason,
        challenger.value,
        champion_version,
        None if champion is None else champion.value,
        metric,
        interval(challenger),
        None if champion is None else interval(champion),
        verdict.p_value,
    )


class Verdict(NamedTuple):
    promoted: bool
    reason: str
    champion: Scored | None  # the current champion as scored (None: none, or incomparable)
    p_value: float | None


def against(
    scorer: Scorer, challenger: Scored, name: str, champion_version: str | None, metric: str
) -> Verdict:
    """The challenger against the current ``@champion`` (version ``champion_version``, None:
    no champion yet), scored fresh on the same rows by ``scorer``."""
    if champion_version is None:
        promoted, reason, p_value = decide(challenger, None, metric)
        return Verdict(promoted, reason, None, p_value)
    try:
        champion = scorer(f"models:/{name}@{ALIAS}")
    except Exception as error:  # e.g. a champion trained on other data: incomparable
        reason = (
            f"current @{ALIAS} (version {champion_version}) is incomparable: it could not "
            f"be scored on this test split ({type(error).__name__}: {_why(error)}); "
            f"challenger {metric.replace('_', ' ')} {_said(challenger)} promoted in its place"
        )
        log.warning("%s: %s", name, reason)
        return Verdict(True, reason, None, None)
    promoted, reason, p_value = decide(challenger, champion, metric)
    return Verdict(promoted, reason, champion, p_value)


def _why(error: Exception) -> str:
    """The cause, without the rows MLflow quotes in a schema error (``... Error: <cause>``)."""
    text = str(error).rsplit("Error: ", 1)[-1].strip()
    return (text.splitlines() or [""])[0][:200]


def record(tracker: Tracker, promotion: Promotion, parent_run_id: str, prefix: str = "") -> None:
    """Write the decision, why, and both 95 % intervals into the sweep's parent run
    (``prefix`` names a second challenger's decision, e.g. ``refit.``)."""
    p = promotion
    previous = f"{p.name}/{p.champion_version}" if p.champion_version else "none"

    def key(name: str) -> str:
        return name.replace("promotion.", f"promotion.{prefix}", 1)

    tracker.set_tags(
        parent_run_id,
        {
            key(T.PROMOTION_DECISION): "promoted" if p.promoted else "kept",
            key(T.PROMOTION_REASON): p.reason,
            key(T.PROMOTION_VERSION): f"{p.name}/{p.version}",
            key(T.PROMOTION_PREVIOUS_CHAMPION): previous,
        },
    )
    metrics = {key(f"promotion.challenger_{p.metric}"): p.challenger_value}
    if p.challenger_interval is not None:
        metrics[key(f"promotion.challenger_{p.metric}_ci_low")] = p.challenger_interval[0]
        metrics[key(f"promotion.challenger_{p.metric}_ci_high")] = p.challenger_interval[1]
    if p.champion_value is not None:
        metrics[key(f"promotion.champion_{p.metric}")] = p.champion_value
    if p.champion_interval is not None:
        metrics[key(f"promotion.champion_{p.metric}_ci_low")] = p.champion_interval[0]
        metrics[key(f"promotion.champion_{p.metric}_ci_high")] = p.champion_interval[1]
    if p.p_value is not None:
        metrics[key("promotion.p_value")] = p.p_value
    tracker.log_metrics(parent_run_id, metrics)
