"""One trial: ``training.train`` in a child run, pruned per epoch, tagged with its outcome.

The value is the best ``monitor`` reached in the trial (what the best-weight model scores on
validation). The child run's id is a user attr of the trial; ``optuna.state`` is set on the run
once Optuna has decided (COMPLETE, PRUNED, FAIL), pruned trials also say at which epoch.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from mlflow import MlflowClient
from optuna.trial import FrozenTrial, Trial, TrialState

from tracking.config import TrainConfig, validate
from tracking.errors import MonitorError
from tracking.sweep_config import SweepConfig


class Objective:
    """One trial = one ``train()`` in a child run; the value is the best ``monitor`` reached."""

    def __init__(
        self, base: TrainConfig, sweep: SweepConfig, dataset: Any, parent_run_id: str
    ) -> None:
        self.base, self.sweep, self.dataset = base, sweep, dataset
        self.parent_run_id = parent_run_id
        self.monitor_error: MonitorError | None = None

    def __call__(self, trial: Trial) -> float:
        from tracking.pruning import PruningCallback
        from tracking.runs import Terminated
        from tracking.search_space import suggest_config
        from tracking.training import train

        config = validate(suggest_config(trial, self.base, self.sweep))
        callback = PruningCallback(trial, config.monitor)
        tags = {
            "sweep.role": "trial",
            "optuna.study_name": trial.study.study_name,
            "optuna.trial_number": str(trial.number),
        }
        try:
            result = train(
                config,
                dataset=self.dataset,
                run_name=f"{trial.study.study_name}-trial-{trial.number:03d}",
                parent_run_id=self.parent_run_id,
                tags=tags,
                extra_callbacks=(callback,),
                register=False,
                verbose=0,
            )
        except MonitorError as error:  # the same for every trial: stop the study
            self.monitor_error = error
            trial.study.stop()
            raise
        except Terminated as error:  # Optuna records FAIL only for Exception/KeyboardInterrupt;
            raise KeyboardInterrupt(str(error)) from error  # anything else stays RUNNING forever
        finally:  # the run id is known even when train() raised (before fit: look it up)
            run_id = callback.run_id or _child_run_id(self.parent_run_id, trial.number)
            if run_id:
                trial.set_user_attr("mlflow_run_id", run_id)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr("stop_reason", result.stop_reason)
        if result.stop_reason == "pruned":
            step = int(callback.pruned_at_step or 0)
            trial.set_user_attr("pruned_at_epoch", step + 1)
            client = MlflowClient()
            client.set_tag(result.run_id, "optuna.pruned_at_epoch", str(step + 1))  # 1-based
            client.set_tag(result.run_id, "optuna.pruned_at_step", str(step))  # 0-based step
            raise optuna.TrialPruned(f"pruned at epoch {step + 1} (step {step})")
        if result.model_uri:
            trial.set_user_attr("model_uri", result.model_uri)
        if result.test_accuracy is not None:
            trial.set_user_attr("test_accuracy", result.test_accuracy)
        value = result.best_value
        return float("nan") if value is None or not math.isfinite(value) else float(value)


def _child_run_id(parent_run_id: str, number: int) -> str | None:
    client = MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    found = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`mlflow.parentRunId` = '{parent_run_id}' "
            f"and tags.`optuna.trial_number` = '{number}'"
        ),
        max_results=1,
    )
    return found[0].info.run_id if found else None


def tag_state(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna callback: the child run learns its final state (COMPLETE, PRUNED or FAIL)."""
    run_id = trial.user_attrs.get("mlflow_run_id")
    if run_id:
        MlflowClient().set_tag(run_id, "optuna.state", trial.state.name)


def sync_state_tags(study: optuna.Study, first_number: int) -> None:
    """Tag every trial of this invocation (covers ones an interruption kept from ``tag_state``)."""
    for trial in study.get_trials(deepcopy=False):
        if trial.number >= first_number and trial.state != TrialState.RUNNING:
            tag_state(study, trial)


def progress_line(study: optuna.Study, trial: FrozenTrial, monitor: str) -> str:
    """``trial 3 PRUNED epochs=12 ... -> pruned at epoch 4 | best val_loss 0.1100 (trial 1)``."""
    params = " ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    if trial.state == TrialState.COMPLETE:
        outcome = f"{monitor} {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED:
        outcome = f"pruned at epoch {trial.user_attrs.get('pruned_at_epoch', '?')}"
    else:
        outcome = trial.state.name.lower()
    try:
        best = study.best_trial
        best_text = f"best {monitor} {best.value:.4f} (trial {best.number})"
    except ValueError:
        best_text = "no complete trial yet"
    return f"trial {trial.number} {trial.state.name}: {params} -> {outcome} | {best_text}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
