"""The default pruner: Optuna's median rule, held back until a trial has used part of its budget.

A trial is compared with the other trials at the same epoch (Optuna's ``MedianPruner``: it stops
when its best value so far is worse than the median of the complete trials' values at that
step), but only once it has trained ``fraction`` of its own epochs: a 30-epoch trial with a
small learning rate is not judged on its first epoch against 10-epoch trials that start fast.
The trial's own epochs are what its fit was given (user attr ``epochs``, set by
``tracking.sweep.pruning.PruningCallback``), else its ``epochs`` param.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

EPOCHS_ATTR = "epochs"  # the trial's user attr: the epochs its fit was given


class BudgetPruner(optuna.pruners.BasePruner):
    """``pruner`` (Optuna's), asked only once a trial has trained ``fraction`` of its epochs.

    Args:
        pruner: the rule applied after the warm-up, e.g. ``optuna.pruners.MedianPruner``.
        fraction: the part of a trial's own epochs it always trains, in [0, 1).
        epochs: the epochs of a trial that says nothing of its own (a fixed dimension).
    """

    def __init__(self, pruner: optuna.pruners.BasePruner, fraction: float, epochs: int) -> None:
        if not 0 <= fraction < 1:
            raise ValueError(f"fraction must be in [0, 1) but got {fraction}.")
        if epochs < 1:
            raise ValueError(f"epochs must be 1 or more but got {epochs}.")
        self._pruner, self._fraction, self._epochs = pruner, fraction, epochs

    def warmup_epochs(self, trial: FrozenTrial) -> int:
        """How many epochs ``trial`` trains before it can be pruned (at the end of the next)."""
        epochs = trial.user_attrs.get(EPOCHS_ATTR, trial.params.get("epochs", self._epochs))
        return math.ceil(self._fraction * int(epochs))

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step  # 0-based: as Optuna's n_warmup_steps, judged from step = warm-up
        if step is None or step < self.warmup_epochs(trial):
            return False
        return self._pruner.prune(study, trial)
