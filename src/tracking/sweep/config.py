"""The sweep's own configuration: study, pruner and the bounds of the search space.

The sweep CLI is TrainConfig's flags (the base configuration of every trial) plus these. Like
``tracking.config.train`` this module uses the standard library only, so bad input is refused at
once. The searched dimensions (``tracking.sweep.space``) take their values from the bounds and
choices below; a bound pair with min == max, or one choice, fixes that dimension instead of
searching it. The bounds leave out what never wins on the project's data (a learning rate of 1e-4
at batch 512 for 20 epochs: validation loss 1.1 on digits, where the base configuration reaches
0.1), so the sampler's first, random trials are not spent there (docs/sweeps.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tracking.config.params import param, parse_bool
from tracking.config.train import AUTO, TrainConfig, data_model_name

PRUNERS = ("budget", "percentile", "halving", "median", "hyperband", "patient", "none")
SAMPLERS = ("tpe", "random", "qmc", "cmaes", "gp")
# (low, high) field pairs of the search space: low must not be above high.
BOUND_PAIRS = (
    ("epochs_min", "epochs_max"),
    ("learning_rate_min", "learning_rate_max"),
    ("sgd_learning_rate_min", "sgd_learning_rate_max"),
    ("dropout_min", "dropout_max"),
    ("translation_min", "translation_max"),
    ("l2_min", "l2_max"),
    ("hidden_layers_min", "hidden_layers_max"),
    ("hidden_width_min", "hidden_width_max"),
)
NEVER = ("", "none")  # target: no target


@dataclass(frozen=True)
class SweepConfig:
    """How many trials, where the study lives, how trials are pruned, and what is searched."""

    n_trials: int = param(20, "total trials in the study (a cap)", at_least=1)
    timeout: float = param(
        0.0, "stop starting trials after N s, 0 = none", at_least=0, example="3600"
    )
    study_name: str = param("auto", "Optuna study name: auto = <data>-<model>-sweep")
    storage: str = param("sqlite:///optuna.db", "Optuna storage URL")
    pruner: str = param(
        "budget",
        "budget | percentile | halving | median | hyperband | patient | none",
        choices=PRUNERS,
    )
    sampler: str = param("tpe", "tpe | random | qmc | cmaes | gp (Optuna's)", choices=SAMPLERS)
    sampler_seed: int = param(0, "sampler seed (each worker's own, offset by trial count)")
    stop_after: int = param(
        0, "stop after N complete trials in a row without a better value, 0 = never", at_least=0
    )
    target: str = param(
        "", "stop once the best monitored value reaches this, '' = never", example="0.98"
    )
    prune_startup_trials: int = param(
        4, "percentile/median/patient: complete trials before pruning starts", at_least=0
    )
    prune_warmup_epochs: int = param(
        0, "percentile/median/patient/budget: epochs of a trial before it can be pruned", at_least=0
    )
    prune_warmup_fraction: float = param(
        0.3, "budget: fraction of a trial's own epochs before it can be pruned", at_least=0, below=1
    )
    prune_patience: int = param(
        2, "patient: epochs without improvement before the median rule", at_least=0
    )
    epochs_min: int = param(5, "search space: epochs lower bound", at_least=1)
    epochs_max: int = param(30, "search space: epochs upper bound", at_least=1)
    batch_sizes: str = param(
        "32,64,128,256", "search space: batch_size choices", int_list=True, example="32,64,128"
    )
    reduce_lr_patiences: str = param(
        "1,2,3",
        "search space: reduce_lr_patience choices (0 = no schedule; one choice = fixed)",
        example="0,2,4",
    )
    optimizers: str = param(
        "adam,rmsprop,sgd", "search space, built-in MLP: optimizer choices", example="adam"
    )
    batch_norms: str = param(
        "false,true", "search space, built-in MLP: batch_norm choices", example="false"
    )
    learning_rate_min: float = param(
        3e-4, "search space (log): adam and rmsprop", above=0, example="0.0001"
    )
    learning_rate_max: float = param(3e-3, "search space (log): adam and rmsprop", above=0)
    sgd_learning_rate_min: float = param(5e-2, "search space (log): sgd", above=0)
    sgd_learning_rate_max: float = param(3e-1, "search space (log): sgd", above=0)
    hidden_layers_min: int = param(1, "search space, built-in MLP: hidden layers", at_least=1)
    hidden_layers_max: int = param(3, "search space, built-in MLP: hidden layers", at_least=1)
    hidden_width_min: int = param(
        64, "search space, built-in MLP (log): first layer's units", at_least=1
    )
    hidden_width_max: int = param(
        512, "search space, built-in MLP (log): first layer's units", at_least=1
    )
    dropout_min: float = param(0.0, "search space", at_least=0, below=1)
    dropout_max: float = param(0.5, "search space", at_least=0, below=1)
    translation_min: float = param(
        0.0, "search space, built-in MLP on images (mnist, images)", at_least=0, below=0.5
    )
    translation_max: float = param(
        0.15, "search space, built-in MLP on images (mnist, images)", at_least=0, below=0.5
    )
    l2_min: float = param(1e-6, "search space (log; 0,0 = no L2)", at_least=0, example="1e-6")
    l2_max: float = param(1e-3, "search space (log; 0,0 = no L2)", at_least=0)
    search_space: str = param(
        "",
        "YAML file of your own hyperparameters to search (docs/own-model.md), '' = none",
        example="examples/cnn_space.yaml",
    )
    refit: bool = param(
        False, "retrain the best trial on train+validation rows; it competes for @champion too"
    )
    # scale-out: worker processes on this machine, each replaced after a number of trials
    workers: int = param(1, "worker processes on this machine for the study", at_least=1)
    trials_per_process: int = param(
        20, "a worker is replaced by a fresh process after N trials, 0 = never", at_least=0
    )
    gpus: str = param(
        "", "GPUs the workers take round-robin (CUDA_VISIBLE_DEVICES ids), '' = all visible",
        example="0,1",
    )  # fmt: skip
    # faults: a killed worker's trial is failed after grace_period and retried from its backup
    heartbeat_interval: int = param(
        60, "seconds between a running trial's heartbeats (any storage)", at_least=1
    )
    grace_period: int = param(
        300, "seconds without a heartbeat before a trial is failed and retried", at_least=1
    )
    backup_dir: str = param(".backups", "where every finished epoch of a trial is backed up")
    # selection on small data (tracking.sweep.crossval, docs/sweeps.md)
    cv_folds: str = param(
        "auto",
        "folds of a trial's cross-validated value: auto = 3 when the training pool has at most "
        "5000 rows (digits, wine), else one split; 0 = one split; k = k folds",
        choices=("auto", "0", *(str(k) for k in range(2, 11))),
    )

    @property
    def batch_size_choices(self) -> tuple[int, ...]:
        return tuple(int(b) for b in self.batch_sizes.split(","))

    @property
    def reduce_lr_patience_choices(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.reduce_lr_patiences.split(","))

    @property
    def optimizer_choices(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.strip() for o in self.optimizers.split(",")))

    @property
    def batch_norm_choices(self) -> tuple[bool, ...]:
        return tuple(dict.fromkeys(parse_bool(b) for b in self.batch_norms.split(",")))

    @property
    def target_value(self) -> float | None:
        """``target`` as a number; None for ``''`` or ``none`` (no target)."""
        return None if self.target.strip().lower() in NEVER else float(self.target)


def named(sweep: SweepConfig, base: TrainConfig) -> SweepConfig:
    """``sweep`` with ``study_name=auto`` resolved: ``<data>-<model>-sweep`` (``mnist-mlp-sweep``
    by default, ``digits-cnn-sweep`` for ``-P dataset=digits -P model=examples/cnn.py:build``),
    so a sweep of other data or another model starts a study of its own."""
    if sweep.study_name != AUTO:
        return sweep
    return replace(sweep, study_name=f"{data_model_name(base)}-sweep")


def in_this_process(sweep: SweepConfig, can_start_workers: bool = True) -> bool:
    """Whether a study's trials run in the calling process: with one worker that is never
    replaced (``trials_per_process`` 0), or with one worker when no worker process can be
    started (a library call: ``trials_per_process`` is then moot). ``tracking.sweep.study``
    decides so, and ``pipelines.sweep`` knows it before TensorFlow loads."""
    if not can_start_workers and sweep.workers > 1:
        raise ValueError(f"workers={sweep.workers} needs worker processes, but got none.")
    return sweep.workers == 1 and (not can_start_workers or sweep.trials_per_process == 0)
