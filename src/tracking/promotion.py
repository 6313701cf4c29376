"""Register a sweep's best model and move the ``champion`` alias only when it is better.

Both sides are scored fresh on the same test split with the same code (``score_model_uri``):
the challenger from its registered version, the current champion pulled from the registry as
``models:/NAME@champion``. A champion that cannot be scored on this test split (for instance one
trained on other data) cannot be beaten, so it keeps the alias, and the log says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from mlflow import MlflowClient

from tracking.registry import alias_version, register_version

log = logging.getLogger(__name__)
ALIAS = "champion"

Scorer = Callable[[str], float]  # model URI -> test accuracy


class Promotion(NamedTuple):
    name: str
    version: str
    promoted: bool
    reason: str
    challenger_accuracy: float
    champion_version: str | None  # the version that held the alias before this decision
    champion_accuracy: float | None


def decide(challenger: float, champion: float | None) -> tuple[bool, str]:
    """Promote when there is no champion or the challenger is strictly better."""
    if champion is None:
        return True, f"no {ALIAS} yet; challenger test accuracy {challenger:.4f}"
    if challenger > champion:
        return True, f"challenger test accuracy {challenger:.4f} beats {champion:.4f}"
    return False, f"challenger test accuracy {challenger:.4f} does not beat {champion:.4f}"


def version_for_run(name: str, run_id: str, model_uri: str, tags: dict[str, str]) -> str:
    """The registered version of this run's model, registering it only once (resumes re-run)."""
    client = MlflowClient()
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return str(max(int(v.version) for v in existing))
    return str(register_version(model_uri, name, run_id=run_id, tags=tags).version)


def promote(
    name: str,
    *,
    run_id: str,
    model_uri: str,
    tags: dict[str, str],
    scorer: Scorer,
) -> Promotion:
    """Register the challenger (tagged with ``tags``) and decide whether it becomes champion."""
    client = MlflowClient()
    version = version_for_run(name, run_id, model_uri, tags)
    challenger = scorer(f"models:/{name}/{version}")
    current = alias_version(name, ALIAS)
    champion_version = None if current is None else str(current.version)
    champion: float | None = None
    if champion_version == version:
        promoted, reason = False, f"version {version} already holds @{ALIAS}"
        champion = challenger
    elif current is not None:
        try:
            champion = scorer(f"models:/{name}@{ALIAS}")
        except Exception as error:  # e.g. a champion trained on other data
            promoted = False
            reason = (
                f"current @{ALIAS} (version {champion_version}) could not be scored on this "
                f"test split ({type(error).__name__}: {str(error)[:200]}); it keeps the alias"
            )
        else:
            promoted, reason = decide(challenger, champion)
    else:
        promoted, reason = decide(challenger, None)
    if promoted:
        client.set_registered_model_alias(name, ALIAS, version)
    decision = "promoted" if promoted else "kept"
    client.set_model_version_tag(name, version, "promotion", f"{decision}: {reason}")
    log.info(
        "%s version %s: %s @%s - %s",
        name,
        version,
        "moved" if promoted else "did not move",
        ALIAS,
        reason,
    )
    return Promotion(name, version, promoted, reason, challenger, champion_version, champion)


def record(promotion: Promotion, parent_run_id: str) -> None:
    """Write the decision and why into the sweep's parent run."""
    client = MlflowClient()
    p = promotion
    tags: dict[str, Any] = {
        "promotion.decision": "promoted" if p.promoted else "kept",
        "promotion.reason": p.reason,
        "promotion.version": f"{p.name}/{p.version}",
        "promotion.previous_champion": f"{p.name}/{p.champion_version}"
        if p.champion_version
        else "none",
    }
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, str(value))
    client.log_metric(parent_run_id, "promotion.challenger_test_accuracy", p.challenger_accuracy)
    if p.champion_accuracy is not None:
        client.log_metric(parent_run_id, "promotion.champion_test_accuracy", p.champion_accuracy)
