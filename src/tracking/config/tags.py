"""The names this project gives its MLflow tags, and the values of ``stop_reason``; the
trial attr that names a trial's MLflow run.

MLflow's own tags (parent run, run name, description) are written by ``tracking.door.tracker`` with
MLflow's constants (``mlflow.utils.mlflow_tags``); these are ours. Standard library only.
"""

from __future__ import annotations

from typing import Literal, get_args

# How a training ended (tag STOP_REASON). ``failed``: an exception; ``worker_lost``: its process
# died and another one noticed.
StopReason = Literal[
    "completed", "early_stopping", "pruned", "diverged", "interrupted", "failed", "worker_lost"
]
STOP_REASONS: tuple[str, ...] = get_args(StopReason)

STOP_REASON = "stop_reason"
ERROR = "error"
REGISTERED_MODEL_VERSION = "registered_model_version"
RESUMED_RUN_ID = "resumed_run_id"  # on the run `mlflow run` opened for a resume
BACKUP_PATH = "backup_path"  # where the run's epochs are backed up: an absolute path
# The backup mirrored to the run's artifacts (tracking.run.checkpoints): the epoch it holds, where
# it is ("checkpoint/slot-1.tar"), or "deleted" / "kept: <why>" once the run finished.
CHECKPOINT_EPOCH = "checkpoint_epoch"
CHECKPOINT = "checkpoint"
RESUMED_FROM_EPOCH = "resumed_from_epoch"  # the finished epochs a resumed training started from

# A sweep: one parent run per study, one child run per trial.
SWEEP_ROLE = "sweep.role"  # "parent" | "trial" | "launcher"
SWEEP_PARENT_RUN_ID = "sweep.parent_run_id"  # on a launcher: the parent it resumed
SWEEP_LAST_INVOCATION = "sweep.last_invocation"
OPTUNA_STUDY_NAME = "optuna.study_name"
OPTUNA_TRIAL_NUMBER = "optuna.trial_number"
OPTUNA_STATE = "optuna.state"  # COMPLETE | PRUNED | FAIL
OPTUNA_PRUNED_AT_EPOCH = "optuna.pruned_at_epoch"  # 1-based epoch N
OPTUNA_PRUNED_AT_STEP = "optuna.pruned_at_step"  # 0-based step = N - 1
OPTUNA_RETRY_OF_TRIAL = "optuna.retry_of_trial"  # the killed trial this one retries
OPTUNA_N_TRIALS = "optuna.n_trials"
OPTUNA_BEST_TRIAL_NUMBER = "optuna.best_trial_number"
BEST_RUN_ID = "best_run_id"
# The Optuna trial's user attr that holds its MLflow run id (set before training starts).
RUN_ID_ATTR = "mlflow_run_id"

# The champion decision, on the parent run.
PROMOTION_DECISION = "promotion.decision"
PROMOTION_REASON = "promotion.reason"
PROMOTION_VERSION = "promotion.version"
PROMOTION_PREVIOUS_CHAMPION = "promotion.previous_champion"

# The reading of a run's learning curves (tracking.report.diagnosis): still_improving | converged |
# overfitting | underfitting | diverged.
DIAGNOSIS = "diagnosis"
