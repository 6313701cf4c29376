"""Model Registry: new versions with tags, and aliases."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)


def register_version(
    model_uri: str, name: str, *, run_id: str, tags: Mapping[str, str] | None = None
) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name``, tagged, pointing at ``run_id``."""
    version = mlflow.register_model(model_uri, name, tags=dict(tags or {}))
    client = MlflowClient()
    if version.run_id != run_id:  # the logged model knows its run; make sure the version does
        log.warning(
            "registered version %s has run_id %s, expected %s",
            version.version,
            version.run_id,
            run_id,
        )
    client.set_tag(run_id, "registered_model_version", f"{name}/{version.version}")
    log.info("registered %s version %s from run %s", name, version.version, run_id)
    return version


def alias_version(name: str, alias: str) -> ModelVersion | None:
    """The version that ``alias`` points at, or None when the alias is not set."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None
