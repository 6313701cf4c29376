"""The artifacts side of the MLflow door (``tracking.door.tracker.Tracker``): text, tables, figures
and the dataset inputs of a run, each written through the Tracker's one client."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
from mlflow import MlflowClient
from mlflow.data.numpy_dataset import from_numpy
from mlflow.entities import DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from tracking import compat

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from tracking.data.datasets import Dataset


REMEMBERED = 8  # texts (and logged models' metadata) a Tracker keeps of what it wrote last


class ArtifactsDoor:
    """What ``Tracker`` writes as a run's artifacts and inputs."""

    client: MlflowClient
    uri: str
    _inputs_of: tuple[Dataset, list[DatasetInput]] | None = None  # the last Dataset described
    _texts: dict[tuple[str, str], str]  # (run id, path) -> text, of the last ones logged here

    def log_text(self, run_id: str, text: str, path: str) -> None:
        self.client.log_text(run_id, text, path)
        remember(self._texts, (run_id, path), text)

    def artifact_text(self, run_id: str, path: str) -> str:
        """A text artifact of the run; "" when it has none at ``path``. One this Tracker
        logged lately (the model summary the model card quotes) is not downloaded back."""
        from tracking.door.logged_model import no_progress_bar

        if (run_id, path) in self._texts:
            return self._texts[(run_id, path)]

        with tempfile.TemporaryDirectory() as folder, no_progress_bar():
            try:
                local = self.client.download_artifacts(run_id, path, dst_path=folder)
                with open(local, encoding="utf-8") as f:
                    return f.read()
            except (MlflowException, OSError):
                return ""

    def log_file(self, run_id: str, local_path: str, folder: str) -> None:
        """One file into the run's artifact ``folder``, replacing one of the same name."""
        self.client.log_artifact(run_id, local_path, folder)

    def artifact_names(self, run_id: str, folder: str) -> list[str]:
        """The names of the files directly in ``folder`` ([] when there is none)."""
        return [
            a.path.rsplit("/", 1)[-1]
            for a in self.client.list_artifacts(run_id, folder)
            if not a.is_dir
        ]

    def download_file(self, run_id: str, path: str, folder: str) -> str:
        """The artifact ``path`` downloaded into the local ``folder``; its local path (OSError
        when the store cannot give it)."""
        from tracking.door.logged_model import no_progress_bar

        with no_progress_bar():
            try:
                return str(self.client.download_artifacts(run_id, path, dst_path=folder))
            except MlflowException as error:
                raise OSError(f"{path} of run {run_id}: {error}") from error

    def delete_artifacts(self, run_id: str, folder: str) -> str | None:
        """Delete the run's artifact ``folder``; None when done, else why the store refused
        (some stores cannot delete; a basic-auth server asks for MANAGE on the run)."""
        artifact_uri = self.client.get_run(run_id).info.artifact_uri
        try:
            get_artifact_repository(artifact_uri, tracking_uri=self.uri).delete_artifacts(folder)
        except (MlflowException, NotImplementedError, OSError) as error:
            return f"{type(error).__name__}: {error}"[:300]
        return None

    def log_dict(self, run_id: str, data: Mapping[str, Any], path: str) -> None:
        self.client.log_text(run_id, json.dumps(data, indent=2), path)

    def log_table(self, run_id: str, frame: pd.DataFrame, path: str) -> None:
        """A DataFrame as CSV (readable in the UI's artifact view)."""
        self.client.log_text(run_id, frame.to_csv(index=False), path)

    def log_figure(self, run_id: str, figure: Figure, path: str, **save_kwargs: Any) -> None:
        """A matplotlib figure as PNG; a pyplot figure is closed afterwards."""
        try:
            self.client.log_figure(run_id, figure, path, save_kwargs=save_kwargs or None)
        finally:
            if figure.canvas.manager is not None:  # made by pyplot: release it
                plt.close(figure)

    def log_folder(self, run_id: str, folder: str, path: str | None = None) -> None:
        """Every file under ``folder`` as the run's artifacts (under ``path``), in one call."""
        self.client.log_artifacts(run_id, folder, path)

    def log_dataset_inputs(self, run_id: str, dataset: Dataset) -> None:
        """The three splits as dataset inputs (context training / validation / testing).

        The store creates a dataset the first time an experiment sees its digest, and the check
        and the insert are not one transaction: two workers logging the same data at the same
        instant make one of them fail on the unique key. Its retry finds the dataset there."""
        inputs = self._dataset_inputs(dataset)
        for attempt in range(3):
            try:
                self.client.log_inputs(run_id, datasets=inputs)
                return
            except MlflowException as error:
                text = str(error).lower()
                duplicate = "unique" in text or "duplicate key" in text
                if not duplicate or attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _dataset_inputs(self, dataset: Dataset) -> list[DatasetInput]:
        """The inputs of ``dataset``, described once: every trial of a sweep trains on the
        same Dataset. Its source (the code that loaded it, with its git commit) is resolved
        once for the three splits, their digests without copying them (``compat``)."""
        if self._inputs_of is not None and self._inputs_of[0] is dataset:
            return list(self._inputs_of[1])
        inputs: list[DatasetInput] = []
        source: Any = None
        for split, context, x, y in dataset.splits():
            if len(x) == 0:
                continue
            digest = compat.numpy_digest(x, y)
            name = f"{dataset.name}-{split}"
            described = from_numpy(x, source=source, targets=y, name=name, digest=digest)
            source = described.source
            context_tag = [InputTag("mlflow.data.context", context)]
            inputs.append(DatasetInput(compat.dataset_entity(described), context_tag))
        self._inputs_of = (dataset, inputs)
        return list(inputs)


def remember(memory: dict[Any, Any], key: Any, value: Any) -> None:
    """``memory[key] = value``, keeping the ``REMEMBERED`` newest entries only."""
    memory.pop(key, None)
    memory[key] = value
    while len(memory) > REMEMBERED:
        del memory[next(iter(memory))]
