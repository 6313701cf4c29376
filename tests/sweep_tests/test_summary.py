from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from tracking.sweep.summary import TrialCurve, curves_info, draw_curves, state_counts


def _trial(number: int, state: TrialState, values: list[float]) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        state=state,
        value=min(values) if state == TrialState.COMPLETE else None,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        intermediate_values=dict(enumerate(values)),
    )
    trial.number = number
    return trial


TRIALS = [
    _trial(1, TrialState.PRUNED, [0.9, 0.8]),
    _trial(0, TrialState.COMPLETE, [0.7, 0.5, 0.4]),
    _trial(2, TrialState.FAIL, []),
]


def test_curves_info_lists_reported_values_in_trial_order() -> None:
    info = curves_info(TRIALS, "val_loss", best_number=0)
    assert info.monitor == "val_loss" and info.best_number == 0
    assert info.curves == (
        TrialCurve(0, "COMPLETE", (0, 1, 2), (0.7, 0.5, 0.4)),
        TrialCurve(1, "PRUNED", (0, 1), (0.9, 0.8)),
    )


def test_state_counts() -> None:
    assert state_counts(TRIALS) == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1, "RUNNING": 0}


def test_pruned_curves_are_drawn_dashed_and_grey() -> None:
    fig = draw_curves(curves_info(TRIALS, "val_loss", best_number=0))
    lines = [line for line in fig.axes[0].lines if len(line.get_xdata()) > 1]
    styles = {tuple(line.get_xdata()): (line.get_linestyle(), line.get_color()) for line in lines}
    assert styles[(1, 2)] == ("--", "grey")  # epochs on the x axis are 1-based
    assert styles[(1, 2, 3)][0] == "-"
    # Epochs are whole numbers: no tick between them.
    fig.canvas.draw()
    assert all(float(tick).is_integer() for tick in fig.axes[0].get_xticks())
