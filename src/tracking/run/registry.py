"""The Model Registry side of a run: refuse an incompatible target before training; register
with a model card after it.

``check_target`` runs before any run exists: a registered model keeps one input signature (the
same columns, or the same number of pixels), so that its versions, and the champion among them,
can always be compared on the same rows. ``register`` adds the version and writes its card
(``tracking.report.model_card``); a card that cannot be written never loses the version.
"""

from __future__ import annotations

import logging

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.preflight.inputs import expected_inputs
from tracking.report.model_card import MODEL_SUMMARY, RunFacts, model_summary, version_card

log = logging.getLogger(__name__)


def check_target(tracker: Tracker, config: TrainConfig) -> None:
    """Raise ConfigError when ``config``'s model would join versions that take other inputs."""
    name = config.model_name
    latest = tracker.latest_version(name) if name else None
    if latest is None:
        return
    try:
        theirs, _ = tracker.model_facts(f"models:/{name}/{latest}")
    except Exception as error:  # e.g. its artifacts were deleted: nothing to compare with
        log.warning("could not read the signature of %s version %s: %s", name, latest, error)
        return
    ours = expected_inputs(config)
    if theirs is None or not ours.differs_from(theirs):
        return
    given = config.registered_model_name
    named = f"(= {name!r}) " if given != name else ""
    raise ConfigError(
        "registered_model_name",
        given,
        f"{named}has version {latest} taking {theirs.describe()}, but this run's model takes "
        f"{ours.describe()}",
        'pass a new name, e.g. -P registered_model_name=my-data-mlp, or "" to not register',
    )


def register(
    tracker: Tracker, model_uri: str, name: str, *, run_id: str, tags: dict[str, str]
) -> str:
    """A new version of ``name`` from ``model_uri`` (logged in ``run_id``), with its card."""
    version = tracker.register(model_uri, name, run_id=run_id, tags=tags)
    try:
        describe(tracker, model_uri, name, version, run_id)
    except Exception:  # the version exists and works; say why its card is missing
        log.exception("could not write the model card of %s version %s", name, version)
    return version


def describe(tracker: Tracker, model_uri: str, name: str, version: str, run_id: str) -> None:
    """Write the version's card, and the registered model's summary if it has none yet."""
    run = tracker.get_run(run_id)
    facts = RunFacts(
        run_id,
        run.name,
        dict(run.params),
        dict(run.metrics),
        dict(run.tags),
        tracker.description(run_id),
    )
    inputs, metadata = tracker.model_facts(model_uri)
    class_names = [str(c) for c in metadata.get("class_names", [])]
    summary = tracker.artifact_text(run_id, MODEL_SUMMARY)
    card = version_card(name, version, facts, inputs, class_names, summary=summary)
    tracker.describe_version(name, version, card)
    if not tracker.model_description(name):
        tracker.describe_model(name, model_summary(name, facts, inputs, class_names))
