from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from tracking.report.diagnosis import Diagnosis, diagnose, diagnosis_metrics

STEPS = range(30)  # step e = epoch e + 1


def falling(e: int) -> float:
    """A training loss that keeps falling."""
    return 1 / (e + 1)


def floor_at_step_10(e: int) -> float:
    """Falls until step 10 (epoch 11), then exactly flat at 0.1."""
    return max(10 - e, 0) ** 2 / 100 + 0.1


def test_converging_then_flat_recommends_the_first_epoch_on_the_floor() -> None:
    d = diagnose(
        {"loss": [falling(e) for e in STEPS], "val_loss": [floor_at_step_10(e) for e in STEPS]}
    )
    # A flat validation loss after epoch 11 neither rises nor improves.
    assert d.label == "converged"
    # The first epoch on the floor is the best (ties keep the first, as BestWeights does).
    assert d.best_epoch_by_loss == 11 and d.recommended_epochs == 11
    assert d.overfitting_from_epoch is None
    # Validation 0.1 vs training 1/11 at epoch 11.
    assert d.generalization_gap_loss == pytest.approx(0.1 - 1 / 11)
    assert d.summary == (
        "Validation loss levelled off: best 0.1 at epoch 11 of 30, with no clear improvement or "
        "rise after it. Train for 11 epochs."
    )


def test_overfitting_starts_at_the_epoch_after_the_bottom() -> None:
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [(e - 10) ** 2 / 1000 + 0.1 for e in STEPS],  # bottom at step 10 = epoch 11
    }
    d = diagnose(history)
    assert d.label == "overfitting"
    # Overfitting starts at the epoch after validation loss bottoms out.
    assert d.overfitting_from_epoch == 12
    # Train up to the bottom, no further.
    assert d.recommended_epochs == 11 and d.best_epoch_by_loss == 11
    # Last value 0.461 is 361 % above the minimum 0.1.
    assert d.summary == (
        "Validation loss was lowest at epoch 11 (0.1); from epoch 12 the model overfits: "
        "validation loss rose 361% while training loss kept falling. Train for 11 epochs."
    )


def test_validation_blow_up_while_training_loss_falls_is_overfitting_not_divergence() -> None:
    val = [falling(e) + 0.05 if e < 10 else 0.15 * 2 ** (e - 9) for e in STEPS]
    # 0.15 * 2**20 is far above 10x the minimum, but training loss kept falling.
    assert diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val}).label == "overfitting"


def test_still_improving_recommends_more_epochs() -> None:
    history = {"loss": [falling(e) for e in STEPS], "val_loss": [falling(e) + 0.05 for e in STEPS]}
    d = diagnose(history)
    assert d.label == "still_improving"
    # 30 epochs + max(patience 5, 25 % of 30 rounded up = 8).
    assert d.recommended_epochs == 38
    # A longer patience asks for more.
    assert diagnose(history, patience=10).recommended_epochs == 40
    assert d.summary == (
        "Validation loss was still improving at the end (best 0.08333 at epoch 30 of 30): "
        "train longer, e.g. 38 epochs."
    )


def test_a_short_run_with_its_best_epoch_last_is_still_improving() -> None:
    history = {"loss": [1.0, 0.8, 0.7, 0.65, 0.6], "val_loss": [0.9, 0.7, 0.6, 0.55, 0.5]}
    # The last epoch beats all earlier ones by 0.05; 5 epochs are too few for 3-epoch means.
    assert diagnose(history).label == "still_improving"


def test_a_noisy_but_falling_validation_loss_is_still_improving() -> None:
    val = [0.5 - 0.01 * e + 0.005 * (-1) ** e for e in STEPS]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # The last epoch beats the best before it by 0.02, within the noise (3 x 0.0082), but the
    # 3-epoch mean fell 0.033 over the last 3 epochs: a trend, not noise.
    assert d.label == "still_improving"


def test_a_steady_descent_whose_last_epochs_stall_is_still_improving() -> None:
    val = [0.25 + 0.8 * math.exp(-e / 8) for e in range(27)]  # 0.32 .. 0.28 over steps 17-26
    val += [val[-1] + 0.004, val[-1] + 0.001, val[-1] + 0.003]  # the last 3 do not beat step 26
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # The last 3 epochs alone say nothing, but the last third descends steadily, by 11.5 % of the
    # best value along its fitted line: still improving, as a person reads the curve.
    assert d.label == "still_improving" and d.recommended_epochs == 38


def test_an_exponential_approach_to_the_floor_has_converged() -> None:
    # 0.1 + exp(-e/3) improves by under 1e-4 over the last epochs, far below 1 % of 0.1.
    d = diagnose(
        {
            "loss": [0.05 + math.exp(-e / 3) for e in STEPS],
            "val_loss": [0.1 + math.exp(-e / 3) for e in STEPS],
        }
    )
    assert d.label == "converged" and d.recommended_epochs == 30


def test_the_monitor_decides_the_direction_of_improvement() -> None:
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [floor_at_step_10(e) for e in STEPS],
        "accuracy": [0.9 + e / 1000 for e in STEPS],
        "val_accuracy": [0.9 + e / 1000 for e in STEPS],  # rises by 0.001 an epoch to the end
    }
    # Validation loss is flat, validation accuracy (higher is better) still rising.
    assert diagnose(history).label == "converged"
    assert diagnose(history, monitor="val_accuracy").label == "still_improving"


def test_a_missing_monitor_falls_back_to_the_loss_and_its_direction() -> None:
    # No validation and no accuracy: val_accuracy becomes loss, where lower is better.
    d = diagnose({"loss": [falling(e) for e in STEPS]}, monitor="val_accuracy")
    assert d.label == "still_improving"


def test_underfitting_when_both_losses_stay_flat_and_high() -> None:
    history = {
        "loss": [2.30 - 0.001 * e for e in STEPS],
        "val_loss": [2.31 - 0.001 * e for e in STEPS],
    }
    d = diagnose(history)
    # The training loss went down about 1 % in 30 epochs (the rule asks for 10 %).
    assert d.label == "underfitting"
    assert d.summary.startswith("Training loss went down only 1% from epoch 1 (2.3) in 30 epochs")


def test_a_falling_validation_loss_is_not_underfitting() -> None:
    history = {
        "loss": [2.30 - 0.001 * e for e in STEPS],
        "val_loss": [floor_at_step_10(e) for e in STEPS],
    }
    # The training loss barely moved but the validation loss fell from 1.1 to 0.1: it learns.
    assert diagnose(history).label != "underfitting"


def test_diverged_on_nan_recommends_the_best_epoch_before_it() -> None:
    nan_from_step_7 = [falling(e) if e < 7 else math.nan for e in STEPS]
    d = diagnose({"loss": nan_from_step_7, "val_loss": [falling(e) for e in STEPS]})
    assert d.label == "diverged"
    # Steps 0..6 (epochs 1..7) are usable; the validation loss was still falling at epoch 7.
    assert d.recommended_epochs == 7
    assert d.summary.startswith("Training diverged: loss became nan at epoch 8; the best usable")


def test_diverged_when_the_guard_stopped_training() -> None:
    history = {"loss": [falling(e) for e in range(5)], "val_loss": [falling(e) for e in range(5)]}
    # DivergenceGuard stops inside an epoch, so the logged epochs can all be finite.
    assert diagnose(history, stop_reason="diverged").label == "diverged"
    assert diagnose(history, stop_reason="early_stopping").label != "diverged"


def test_diverged_when_the_validation_loss_blows_up_and_training_stalls() -> None:
    val = [falling(e) if e < 10 else 0.1 * 2 ** (e - 9) for e in STEPS]
    stalled = [max(9 - e, 0) ** 2 / 100 + 0.05 for e in STEPS]  # flat from step 9 on
    d = diagnose({"loss": stalled, "val_loss": val})
    assert d.label == "diverged"
    # The validation loss was lowest at step 9 = epoch 10 (0.1), then doubled every epoch.
    assert d.recommended_epochs == 10
    assert "validation loss blew up to 1.049e+05 at epoch 30, 1048576x its minimum 0.1" in d.summary


def test_a_blow_up_still_below_the_first_value_is_not_divergence() -> None:
    val = [5.0 - 0.49 * e if e <= 10 else 0.1 + 0.1 * (e - 10) for e in STEPS]  # 5.0 .. 0.1 .. 2.0
    stalled = [max(10 - e, 0) ** 2 / 100 + 0.05 for e in STEPS]
    # The last value 2.0 is 20x the minimum 0.1 but below epoch 1's 5.0.
    assert diagnose({"loss": stalled, "val_loss": val}).label != "diverged"


def test_diverged_when_the_training_loss_itself_rises() -> None:
    rising = [(e - 10) ** 2 / 1000 + 0.1 for e in STEPS]  # lowest at step 10 = epoch 11
    d = diagnose({"loss": rising, "val_loss": [v + 0.05 for v in rising]})
    # A training loss that goes up is the optimizer's doing, not overfitting.
    assert d.label == "diverged" and d.overfitting_from_epoch is None
    assert d.recommended_epochs == 11
    assert d.summary.startswith("Training diverged: training loss rose 361% after its lowest at")


def test_diverged_when_the_training_loss_grows_tenfold() -> None:
    loss = [falling(e) if e < 10 else 0.1 * 10 ** ((e - 9) / 20) for e in STEPS]  # 0.1 -> 1.0
    d = diagnose({"loss": loss, "val_loss": [v + 0.05 for v in loss]})
    assert d.label == "diverged" and d.recommended_epochs == 10
    # The rise is judged against the curve's scale: most of the way back to epoch 1's 1.0.
    assert d.summary.startswith(
        "Training diverged: training loss rose 900% after its lowest at epoch 10 (0.1 to 1: 79% "
        "of epoch 1's 1)"
    )


def test_diverged_when_the_training_loss_climbs_from_its_start() -> None:
    climbing = [0.5 + 0.002 * e for e in STEPS]  # never below epoch 1's 0.5
    d = diagnose({"loss": climbing, "val_loss": [v + 0.1 for v in climbing]})
    # Only 10 % of its scale, but a loss that ends above where it started has not trained.
    assert d.label == "diverged" and d.recommended_epochs == 1
    assert d.summary.startswith("Training diverged: training loss climbed 12% from epoch 1 (0.5)")


def test_a_wobble_of_the_training_loss_near_its_floor_is_noise_not_divergence() -> None:
    # Falls from 1.0 to 0.0006 at step 15, then drifts up eightfold to 0.0048 at step 29: a
    # clear, steady rise, but 0.4 % of epoch 1's 1.0 (issue 17's case).
    wobbling = [0.6**e for e in range(15)]
    wobbling += [0.0005 + 0.0003 * i + 0.0001 * (-1) ** i for i in range(15)]
    d = diagnose({"loss": wobbling, "val_loss": [floor_at_step_10(e) for e in STEPS]})
    # The label reads the validation loss; the wobble is a secondary finding, said after it.
    assert d.label == "converged" and d.recommended_epochs == 11
    assert d.secondary == ("training_loss_wobbles",)
    assert d.summary.split("\n\n")[1] == (
        "The training loss wobbles near its floor after epoch 16 (lowest 0.0006, up to 0.0048 at "
        "epoch 30: 0.4% of epoch 1's 1, noise rather than divergence); a lower learning rate or a "
        "schedule would steady it."
    )


def test_a_jump_of_the_training_loss_that_recovers_is_said_after_the_label() -> None:
    jumping = [falling(e) if e != 16 else 0.5 for e in STEPS]
    d = diagnose({"loss": jumping, "val_loss": [floor_at_step_10(e) for e in STEPS]})
    # 0.0625 -> 0.5 is 44 % of epoch 1's 1.0: no wobble, but training fell again after it.
    assert d.label == "converged" and d.secondary == ("training_loss_wobbles",)
    assert d.summary.split("\n\n")[1].startswith(
        "The training loss jumped from 0.0625 at epoch 16 to 0.5 at epoch 17 (44% of epoch 1's 1)"
    )


def test_a_noisy_but_steady_climb_after_the_lowest_is_overfitting() -> None:
    # From step 10 on: +0.002 an epoch under an alternating +-0.02, lowest 0.082 at step 11.
    val = [
        floor_at_step_10(e) + 0.002 * max(e - 10, 0) + 0.02 * (-1) ** e * (e >= 10) for e in STEPS
    ]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # The rise of the 3-epoch means (0.032) is within 3 x the noise (0.098), but the slope
    # after the lowest is 2.3 standard errors up: a trend, as a person reads it.
    assert d.label == "overfitting" and d.overfitting_from_epoch == 13
    assert d.recommended_epochs == 12


def test_a_step_up_to_a_noisy_plateau_after_the_lowest_is_overfitting() -> None:
    # Lowest 0.1 at step 10, then a plateau at 0.25 with a repeating 0.3, 0.2, 0.25: no epoch
    # after the lowest comes back near it.
    val = [floor_at_step_10(e) if e <= 10 else 0.25 + 0.05 * (1, -1, 0)[e % 3] for e in STEPS]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # The rise of the 3-epoch means (0.133) is within 3 x the noise (0.152) and the climb is no
    # trend (a jump, then flat), but the plateau's mean over 19 epochs is 4.2 standard errors
    # above the 3 epochs that end at the lowest one: a step up, as a person reads it.
    assert d.label == "overfitting" and d.overfitting_from_epoch == 12
    assert d.recommended_epochs == 11


def test_a_single_low_epoch_on_a_noisy_plateau_is_no_step() -> None:
    # The noisy plateau below (0.09 / 0.11), with one epoch (step 15) dipping to 0.05.
    val = [floor_at_step_10(e) - 0.01 * (-1) ** e - 0.06 * (e == 15) for e in STEPS]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # After the dip the plateau is where it was before it. Its mean is 1.65 standard errors
    # above the 3 epochs ending at the dip (the dip drags them down by a third of its depth),
    # short of a step (against the dip alone it would be 3.0): converged, best at the dip.
    assert d.label == "converged" and d.recommended_epochs == 16


@pytest.mark.parametrize("steps", [30, 31])
def test_a_noisy_plateau_is_neither_overfitting_nor_improving(steps: int) -> None:
    history = {
        "loss": [falling(e) for e in range(steps)],
        "val_loss": [floor_at_step_10(e) - 0.01 * (-1) ** e for e in range(steps)],
    }
    d = diagnose(history)
    # Alternating 0.09 / 0.11 on the floor. With 30 epochs the last 3-epoch mean (0.11, 0.09,
    # 0.11) is 7 % above the lowest one, with 31 it is 7 % below the one 3 epochs earlier: more
    # than MIN_RISE or MIN_GAIN, well within the noise either way.
    assert d.label == "converged" and d.overfitting_from_epoch is None
    # The first 0.09 is at step 10 = epoch 11.
    assert d.recommended_epochs == 11


def test_a_small_clean_rise_is_not_overfitting() -> None:
    val = [max(10 - e, 0) ** 2 / 100 + max(e - 10, 0) ** 2 / 100_000 + 0.1 for e in STEPS]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # 0.1 -> 0.1036 is noise-free but only 3.6 %, below MIN_RISE.
    assert d.label == "converged" and d.recommended_epochs == 11


def test_a_rise_without_falling_training_loss_is_not_overfitting() -> None:
    stalled = [max(10 - e, 0) ** 2 / 100 + 0.05 for e in STEPS]  # flat from step 10 on
    val = [(e - 10) ** 2 / 1000 + 0.1 for e in STEPS]
    d = diagnose({"loss": stalled, "val_loss": val})
    # The tutorials' overfitting needs the training loss to keep improving meanwhile.
    assert d.label == "converged" and d.overfitting_from_epoch is None
    assert d.summary == (
        "Validation loss levelled off: best 0.1 at epoch 11 of 30, although validation loss rose "
        "361% from its lowest, training loss stalled. Train for 11 epochs."
    )


def test_two_epochs_after_the_lowest_are_too_few_to_call_overfitting() -> None:
    val = [floor_at_step_10(e) for e in range(27)] + [0.09, 0.2, 0.2]  # lowest at step 27
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # The lowest value is in the last 3 epochs: no 3-epoch mean has seen the rise alone yet.
    assert d.label == "converged" and d.recommended_epochs == 28


def test_a_vanishing_improvement_has_converged() -> None:
    val = [floor_at_step_10(e) - 1e-6 * e for e in STEPS]
    d = diagnose({"loss": [falling(e) for e in STEPS], "val_loss": val})
    # Noise-free and the last epoch is the best, but 1e-6 an epoch is far below MIN_GAIN.
    assert d.label == "converged" and d.recommended_epochs == 30


def test_accuracy_improving_after_the_loss_bottom_is_reported() -> None:
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [(e - 10) ** 2 / 1000 + 0.1 for e in STEPS],
        "accuracy": [0.9 + e / 300 for e in STEPS],
        "val_accuracy": [0.9 + e / 1000 for e in STEPS],  # best at the last epoch: 0.929
    }
    d = diagnose(history)
    assert d.best_epoch_by_loss == 11 and d.best_epoch_by_metric == 30
    assert d.metric == "accuracy" and d.secondary == ("best_epochs_disagree",)
    # The second paragraph explains the disagreement.
    assert d.summary.split("\n\n")[1] == (
        "Validation accuracy kept improving until epoch 30 (0.929) although validation loss was "
        "lowest at epoch 11: the model grows more confident on examples it already gets wrong."
    )
    # Gap at the best epoch (step 10): accuracy 0.9 + 10/300 minus validation 0.9 + 10/1000.
    assert d.generalization_gap_metric == pytest.approx(10 / 300 - 10 / 1000)


def test_a_metric_wandering_on_its_plateau_adds_no_paragraph() -> None:
    wandering = [0.9 + 0.01 * min(e, 5) + 0.002 * (-1) ** e for e in STEPS]
    wandering[21] = 0.953  # its best, 11 epochs after the loss's
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [floor_at_step_10(e) for e in STEPS],
        "accuracy": wandering,
        "val_accuracy": wandering,
    }
    d = diagnose(history)
    assert d.best_epoch_by_loss == 11 and d.best_epoch_by_metric == 22
    # Between the two the accuracy only wanders: no trend, nothing to say.
    assert d.secondary == () and "\n\n" not in d.summary


def test_agreeing_best_epochs_add_no_paragraph() -> None:
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [(e - 10) ** 2 / 1000 + 0.1 for e in STEPS],
        "accuracy": [0.9 for _ in STEPS],
        "val_accuracy": [0.9 - (e - 11) ** 2 / 1000 for e in STEPS],  # best at step 11, 1 apart
    }
    assert "\n\n" not in diagnose(history).summary


def test_without_validation_the_training_loss_is_read_and_there_is_no_gap() -> None:
    history = {"loss": [floor_at_step_10(e) for e in STEPS], "accuracy": [0.9] * 30}
    d = diagnose(history)  # monitor val_loss falls back to loss
    assert d.label == "converged" and d.overfitting_from_epoch is None
    assert d.best_epoch_by_loss == 11 and d.recommended_epochs == 11
    assert d.generalization_gap_loss is None and d.generalization_gap_metric is None
    assert d.summary.startswith("Training loss levelled off: best 0.1 at epoch 11 of 30")


def test_regression_reads_mae_and_names_its_gap() -> None:
    history = {
        "loss": [falling(e) for e in STEPS],
        "val_loss": [floor_at_step_10(e) for e in STEPS],
        "mae": [falling(e) / 2 for e in STEPS],
        "val_mae": [floor_at_step_10(e) / 2 + 0.01 for e in STEPS],
        "mse": [falling(e) for e in STEPS],
        "val_mse": [floor_at_step_10(e) for e in STEPS],
    }
    d = diagnose(history)
    # Lower MAE is better: best at the same epoch as the loss.
    assert d.metric == "mae" and d.best_epoch_by_metric == 11
    # val_mae - mae at epoch 11: 0.06 - 1/22.
    assert d.generalization_gap_metric == pytest.approx(0.06 - 1 / 22)
    assert set(diagnosis_metrics(d)) == {
        "recommended_epochs",
        "generalization_gap_loss",
        "generalization_gap_mae",
    }


def test_metrics_name_the_accuracy_gap_and_the_overfitting_epoch() -> None:
    d = Diagnosis("overfitting", 11, 12, 11, 11, 0.05, 0.02, "accuracy", "")
    assert diagnosis_metrics(d) == {
        "recommended_epochs": 11.0,
        "overfitting_from_epoch": 12.0,
        "generalization_gap_loss": 0.05,
        "generalization_gap_accuracy": 0.02,
    }
    # A NaN gap is no metric.
    assert "generalization_gap_loss" not in diagnosis_metrics(
        d._replace(generalization_gap_loss=math.nan)
    )


def test_metrics_drop_nan_and_missing_values() -> None:
    nan = math.nan
    d = diagnose(
        {
            "loss": [nan, nan],
            "val_loss": [nan, nan],
            "accuracy": [nan, nan],
            "val_accuracy": [nan, nan],
        }
    )
    # No finite epoch: nothing to recommend, no gap, so no metric at all.
    assert d.label == "diverged" and d.recommended_epochs == 0
    assert diagnosis_metrics(d) == {}
    assert "no epoch is usable" in d.summary


def test_three_epochs_are_too_few_to_call_underfitting() -> None:
    d = diagnose({"loss": [1.0, 0.99, 0.98], "val_loss": [1.0, 0.99, 0.98]})
    # Flat enough for the underfitting rule, but there are no two 3-epoch means to compare.
    assert d.label == "still_improving"


def test_one_epoch_is_still_improving() -> None:
    d = diagnose({"loss": [0.5], "val_loss": [0.4]})
    assert d.label == "still_improving" and d.recommended_epochs == 6


def test_a_history_without_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'loss' values"):
        diagnose({"accuracy": [0.5]})


def test_importing_it_loads_no_heavy_library() -> None:
    # The lead wires it in anywhere, even before TensorFlow or MLflow are imported.
    code = (
        "import sys, tracking.report.diagnosis; "
        "heavy = {'tensorflow', 'keras', 'matplotlib', 'pandas', 'mlflow'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2] / "src",
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
