"""Ctrl-C and SIGTERM in a real Optuna loop: they stop a trial inside its block, never Optuna's
own bookkeeping (a trial left RUNNING) and never the set-up of a trial (a trial not retried)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import optuna
import pytest

from tracking.config.errors import Terminated
from tracking.sweep.interrupts import INTERRUPTS


class SignalInAsk(optuna.samplers.RandomSampler):
    """Sends ``signum`` to this process while Optuna creates trial ``at`` (``study.ask``)."""

    def __init__(self, at: int, signum: int) -> None:
        super().__init__(seed=0)
        self.at, self.signum = at, signum

    def before_trial(self, study: optuna.Study, trial: Any) -> None:
        if trial.number == self.at:
            os.kill(os.getpid(), self.signum)
        super().before_trial(study, trial)


def _objective(blocks: list[int]) -> Any:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        try:
            with INTERRUPTS.raising():
                blocks.append(trial.number)  # the block ran: no signal came before it
                return x
        except Terminated as error:  # as tracking.sweep.objective: Optuna records FAIL then
            raise KeyboardInterrupt(str(error)) from error

    return objective


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.trials]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_optunas_ask_waits_for_the_trials_block(signum: int) -> None:
    study = optuna.create_study(sampler=SignalInAsk(at=1, signum=signum))
    blocks: list[int] = []
    with pytest.raises(KeyboardInterrupt), INTERRUPTS.installed():
        study.optimize(_objective(blocks), n_trials=5, catch=(Exception,))
    # Trial 1 was created, then its block raised the held signal: FAIL (Optuna's record of an
    # interrupted objective), not RUNNING, and no trial after it.
    assert _states(study) == ["COMPLETE", "FAIL"]
    assert blocks == [0]


def test_a_signal_inside_the_block_raises_at_once_and_a_second_one_is_held() -> None:
    study = optuna.create_study()
    reached: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        with INTERRUPTS.raising():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
                reached.append("slept")  # not reached: the signal raised in the sleep
            except KeyboardInterrupt:
                os.kill(os.getpid(), signal.SIGINT)  # while the run ends: held, not raised
                time.sleep(0.1)
                reached.append("ended")
                raise
        return 0.0

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), INTERRUPTS.installed():
        study.optimize(objective, n_trials=3)
    assert time.monotonic() - started < 4
    assert reached == ["ended"]
    assert _states(study) == ["FAIL"]


def test_a_signal_in_the_last_tell_is_raised_after_the_loop_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    study = optuna.create_study()

    def interrupt_after(study: optuna.Study, trial: Any) -> None:  # after Optuna's tell
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt), INTERRUPTS.installed():
        study.optimize(_objective([]), n_trials=1, callbacks=[interrupt_after])
    assert _states(study) == ["COMPLETE"]
    assert signal.getsignal(signal.SIGINT) is before
