"""-P sampler: each of Optuna's samplers runs trials over the sweep's whole conditional space."""

from __future__ import annotations

import math
from importlib.util import find_spec

import optuna
import pytest

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.sweep.config import SAMPLERS, SweepConfig
from tracking.sweep.opening import enqueued_base, sampler_seed
from tracking.sweep.samplers import STARTUP_TRIALS, make_sampler
from tracking.sweep.space import suggest_config
from tracking.sweep.validation import validate_sweep

CLASSES = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "qmc": "QMCSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
}


def _loss(config: TrainConfig) -> float:
    """A stand-in for a trial's validation loss: best at learning rate 1e-3, dropout 0.1."""
    return abs(math.log10(config.learning_rate) + 3) + abs(config.dropout - 0.1)


def _run(sweep: SweepConfig, n_trials: int) -> optuna.Study:
    study = optuna.create_study(sampler=make_sampler(sweep, seed=1))
    study.enqueue_trial(enqueued_base(TrainConfig(), sweep))  # trial 0, as a sweep does
    study.optimize(lambda t: _loss(suggest_config(t, TrainConfig(), sweep)), n_trials=n_trials)
    return study


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_runs_trials_past_its_random_start(name: str) -> None:
    sweep = SweepConfig(sampler=name)
    if name == "gp" and find_spec("torch") is None:
        # Without the gp extra the sampler is refused in one line naming it.
        with pytest.raises(ConfigError, match=r"needs torch.*pip install -e '\.\[gp\]'"):
            validate_sweep(sweep)
        return
    validate_sweep(sweep)
    assert type(make_sampler(sweep, seed=1)).__name__ == CLASSES[name]  # Optuna's own
    study = _run(sweep, n_trials=STARTUP_TRIALS + 3)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * (STARTUP_TRIALS + 3)
    # Trial 0 is the base configuration; the others are drawn, each a point of its own.
    assert trials[0].params["learning_rate"] == 1e-3 and trials[0].params["optimizer"] == "adam"
    drawn = {tuple(sorted(t.params.items())) for t in trials}
    assert len(drawn) == len(trials)
    # Every trial holds its optimizer's learning rate only (the conditional dimension).
    for trial in trials:
        own = "sgd_learning_rate" if trial.params["optimizer"] == "sgd" else "learning_rate"
        assert (
            own in trial.params
            and len({"learning_rate", "sgd_learning_rate"} & set(trial.params)) == 1
        )


def test_the_default_sampler_is_tpe() -> None:
    assert SweepConfig().sampler == "tpe"
    assert isinstance(make_sampler(SweepConfig(), seed=3), optuna.samplers.TPESampler)


def test_every_worker_gets_a_seed_of_its_own() -> None:
    sweep = SweepConfig(sampler_seed=7)
    seeds = {sampler_seed(sweep, worker, 0) for worker in range(4)}
    assert len(seeds) == 4  # the same seed on every worker repeats trials (optuna#4714)
    assert sampler_seed(sweep, 1, 0) == sampler_seed(SweepConfig(sampler_seed=7), 1, 0)
    # Two random samplers seeded for two workers draw different first trials.
    first = []
    for worker in (0, 1):
        sampler = make_sampler(SweepConfig(sampler="random"), sampler_seed(sweep, worker, 0))
        study = optuna.create_study(sampler=sampler)
        first.append(suggest_config(study.ask(), TrainConfig(), sweep))
    assert first[0] != first[1]
