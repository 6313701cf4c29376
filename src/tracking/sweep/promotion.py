"""Register a sweep's best model and move the ``champion`` alias only when it is better.

Both sides are scored fresh on the same test split with the same code (``score_model_uri``): the
challenger from its registered version, the current champion pulled from the registry as
``models:/NAME@champion``, on the metric that fits the task (``config.PROMOTION_METRIC``: test
accuracy, higher is better; test MAE, lower is better). One rule, ``decide``, knows each
metric's direction (``config.TEST_METRIC_MODES``). A champion that cannot be scored on this test
split (for instance one registered before its model took raw rows, or on other columns) cannot
be compared: the challenger is promoted, and the reason says the old champion was incomparable
and why. The registry refuses a new version with other inputs
(``tracking.registry.check_target``), so this only happens to versions registered without that
check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from tracking import registry
from tracking import tags as T
from tracking.config import TEST_METRIC_MODES
from tracking.tracker import Tracker

log = logging.getLogger(__name__)
ALIAS = "champion"

Scorer = Callable[[str], float]  # model URI -> the value of the promotion metric


class Promotion(NamedTuple):
    name: str
    version: str
    promoted: bool
    reason: str
    challenger_value: float
    champion_version: str | None  # the version that held the alias before this decision
    champion_value: float | None
    metric: str = "test_accuracy"  # what both were scored on


def decide(challenger: float, champion: float | None, metric: str) -> tuple[bool, str]:
    """Promote when there is no champion or the challenger is strictly better by ``metric``
    (higher for test_accuracy and test_r2, lower for test_mae, test_rmse and test_loss)."""
    said = metric.replace("_", " ")
    if champion is None:
        return True, f"no {ALIAS} yet; challenger {said} {challenger:.4f}"
    better = challenger > champion if TEST_METRIC_MODES[metric] == "max" else challenger < champion
    if better:
        return True, f"challenger {said} {challenger:.4f} beats {champion:.4f}"
    return False, f"challenger {said} {challenger:.4f} does not beat {champion:.4f}"


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
    champion: float | None = None
    if champion_version == version:
        promoted, reason = False, f"version {version} already holds @{ALIAS}"
        champion = challenger
    elif current is not None:
        try:
            champion = scorer(f"models:/{name}@{ALIAS}")
        except Exception as error:  # e.g. a champion trained on other data: incomparable
            promoted = True
            reason = (
                f"current @{ALIAS} (version {champion_version}) is incomparable: it could not "
                f"be scored on this test split ({type(error).__name__}: {_why(error)}); "
                f"challenger {metric.replace('_', ' ')} {challenger:.4f} promoted in its place"
            )
            log.warning("%s version %s: %s", name, version, reason)
        else:
            promoted, reason = decide(challenger, champion, metric)
    else:
        promoted, reason = decide(challenger, None, metric)
    if promoted:
        tracker.set_alias(name, ALIAS, version)
    decision = "promoted" if promoted else "kept"
    tracker.set_version_tags(name, version, {"promotion": f"{decision}: {reason}"})
    log.info(
        "%s version %s: %s @%s - %s",
        name,
        version,
        "moved" if promoted else "did not move",
        ALIAS,
        reason,
    )
    return Promotion(
        name, version, promoted, reason, challenger, champion_version, champion, metric
    )


def _why(error: Exception) -> str:
    """The cause, without the rows MLflow quotes in a schema error (``... Error: <cause>``)."""
    text = str(error).rsplit("Error: ", 1)[-1].strip()
    return (text.splitlines() or [""])[0][:200]


def record(tracker: Tracker, promotion: Promotion, parent_run_id: str) -> None:
    """Write the decision and why into the sweep's parent run."""
    p = promotion
    previous = f"{p.name}/{p.champion_version}" if p.champion_version else "none"
    tracker.set_tags(
        parent_run_id,
        {
            T.PROMOTION_DECISION: "promoted" if p.promoted else "kept",
            T.PROMOTION_REASON: p.reason,
            T.PROMOTION_VERSION: f"{p.name}/{p.version}",
            T.PROMOTION_PREVIOUS_CHAMPION: previous,
        },
    )
    metrics = {f"promotion.challenger_{p.metric}": p.challenger_value}
    if p.champion_value is not None:
        metrics[f"promotion.champion_{p.metric}"] = p.champion_value
    tracker.log_metrics(parent_run_id, metrics)
