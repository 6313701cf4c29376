from __future__ import annotations

import math

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from tracking.sweep.parallel import Axis, ParallelInfo, draw_parallel, parallel_info

SPACE = {
    "batch_size": CategoricalDistribution([64, 128, 256]),
    "learning_rate": FloatDistribution(1e-4, 1e-2, log=True),
    "epochs": IntDistribution(5, 25),
}


def _trial(number: int, value: float | None, state: TrialState, **params: object) -> FrozenTrial:
    trial = create_trial(state=state, value=value, params=params,
                         distributions={k: SPACE[k] for k in params})  # fmt: skip
    trial.number = number
    return trial


TRIALS = [
    _trial(0, 0.5, TrialState.COMPLETE, batch_size=128, learning_rate=1e-3, epochs=15),
    _trial(1, 0.1, TrialState.COMPLETE, batch_size=64, learning_rate=1e-2, epochs=5),
    _trial(2, 0.3, TrialState.COMPLETE, batch_size=256, learning_rate=1e-4),  # epochs fixed
    _trial(3, None, TrialState.PRUNED, batch_size=64, learning_rate=1e-4, epochs=25),
]


def test_parallel_info_places_each_complete_trial_on_every_axis() -> None:
    info = parallel_info(TRIALS, "val_loss", minimize=True)
    nan = info.lines[2][3]
    assert math.isnan(nan)  # trial 2 has no epochs: no point on that axis
    assert info._replace(lines=info.lines[:2]) == ParallelInfo(
        axes=(
            Axis("val_loss", (0.0, 1.0), ("0.5", "0.1")),  # the best value at the top
            Axis("batch_size", (0.0, 0.5, 1.0), ("64", "128", "256")),  # no two labels at once
            Axis("learning_rate (log)", (0.0, 0.5, 1.0), ("0.0001", "0.001", "0.01")),
            Axis("epochs", (0.0, 1.0), ("5", "25")),
        ),
        lines=((0.0, 0.5, 0.5, 0.5), (1.0, 0.0, 1.0, 0.0)),
        goodness=(0.0, 1.0, 0.5),  # pruned trial 3 is left out
        numbers=(0, 1, 2),
        best=1,
    )
    assert info.lines[2][:3] == (0.5, 1.0, 0.0)


def test_a_maximised_objective_puts_its_highest_value_at_the_top() -> None:
    info = parallel_info(TRIALS[:2], "val_accuracy", minimize=False)
    assert info.axes[0] == Axis("val_accuracy", (0.0, 1.0), ("0.1", "0.5"))
    assert info.best == 0 and info.goodness == (1.0, 0.0)


def test_the_best_trial_is_drawn_last_in_red_and_the_worst_is_not_white() -> None:
    import matplotlib.pyplot as plt

    with plt.style.context("ggplot"):  # what Optuna's matplotlib plots leave set
        fig = draw_parallel(parallel_info(TRIALS, "val_loss", minimize=True))
    trial_lines = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 4]
    assert trial_lines[-1].get_color() == "crimson"
    worst = trial_lines[0].get_color()  # an RGBA tuple from the colour map
    assert sum(worst[:3]) < 2.7  # not white on white
    assert fig.axes[0].get_facecolor()[:3] == (1.0, 1.0, 1.0)  # no grey background
