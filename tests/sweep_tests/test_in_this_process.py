"""Where a study's trials run: decided once (tracking.sweep.config.in_this_process), for
run_sweep and for pipelines.sweep, which must know it before TensorFlow loads."""

from __future__ import annotations

import pytest

from tracking.sweep.config import SweepConfig, in_this_process


def test_one_worker_never_replaced_runs_here() -> None:
    assert in_this_process(SweepConfig(workers=1, trials_per_process=0))
    # One worker replaced after N trials is a worker process, so that memory stays flat.
    assert not in_this_process(SweepConfig(workers=1, trials_per_process=5))
    assert not in_this_process(SweepConfig(workers=2, trials_per_process=0))


def test_without_worker_processes_one_worker_runs_here_and_more_are_refused() -> None:
    # A library call: trials_per_process is moot then.
    assert in_this_process(SweepConfig(workers=1, trials_per_process=5), can_start_workers=False)
    with pytest.raises(ValueError, match="workers=2 needs worker processes"):
        in_this_process(SweepConfig(workers=2), can_start_workers=False)
