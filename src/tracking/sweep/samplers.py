"""Optuna's samplers, by ``-P sampler``: tpe (the default), random, qmc, cmaes, gp.

Each worker process makes its own sampler with its own seed (``tracking.sweep.opening``): the
same seed on every worker repeats trials (optuna#4714). QMC is the exception: its workers share
one scrambled sequence (the same seed), and the study's storage hands each trial the next point.

- ``tpe``: multivariate TPE with ``group=True``, which models each set of parameters that occur
  together (the optimizer-specific learning rates are conditional) instead of falling back to
  independent sampling; ``constant_liar`` keeps parallel workers from drawing the same point.
  Its first ``STARTUP_TRIALS`` trials (after the base configuration) are random.
- ``random``, ``qmc`` (Sobol, needs scipy), ``cmaes`` (needs the ``cmaes`` package) and ``gp``
  (Gaussian process, needs torch: the ``gp`` extra). CMA-ES and GP sample the categorical
  dimensions with TPE, independently.
"""

from __future__ import annotations

import warnings

import optuna

from tracking.sweep.choices import check_sampler
from tracking.sweep.config import SweepConfig

STARTUP_TRIALS = 5  # random trials before TPE, CMA-ES or GP model the study (Optuna's: 10)


def make_sampler(sweep: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's sampler named by ``sweep.sampler``, seeded with ``seed`` (this worker's)."""
    check_sampler(sweep.sampler)  # ConfigError naming the missing package and its extra
    with warnings.catch_warnings():  # group, QMC, GP: "experimental" arguments or classes
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(sweep, seed)


def _sampler(sweep: SweepConfig, seed: int) -> optuna.samplers.BaseSampler:
    samplers = optuna.samplers
    if sweep.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if sweep.sampler == "qmc":
        return samplers.QMCSampler(
            scramble=True, seed=sweep.sampler_seed, warn_independent_sampling=False,
            warn_asynchronous_seeding=False,
        )  # fmt: skip
    tpe = samplers.TPESampler(
        seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True, group=True
    )
    if sweep.sampler == "tpe":
        return tpe
    independent = samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS)
    if sweep.sampler == "cmaes":
        return samplers.CmaEsSampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, independent_sampler=independent,
            warn_independent_sampling=False,
        )  # fmt: skip
    if sweep.sampler == "gp":
        return samplers.GPSampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, independent_sampler=independent,
            warn_independent_sampling=False,
        )  # fmt: skip
    raise ValueError(f"Unknown sampler {sweep.sampler!r}.")
