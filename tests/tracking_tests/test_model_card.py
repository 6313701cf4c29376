"""Model cards are pure functions of what a run logged: checked by the text a user reads."""

from __future__ import annotations

from tracking.preflight.inputs import ModelInputs
from tracking.report.model_card import RunFacts, model_summary, version_card

PARAMS = {
    "dataset": "csv",
    "data_source": "/data/winered.csv",
    "n_train": "1195",
    "n_val": "133",
    "n_test": "333",
    "hidden_units": "300,200,100",
    "activation": "relu",
    "dropout": "0.2",
    "optimizer": "adam",
    "learning_rate": "0.001",
    "batch_size": "128",
    "epochs": "30",
    "monitor": "val_loss",
    "patience": "5",
}
METRICS = {
    "best_epoch": 2.0,
    "epochs_trained": 8.0,
    "best_val_loss": 0.5001,
    "best_val_accuracy": 0.729,
    "test_accuracy": 0.7594,
    "test_loss": 0.4987,
}
TAGS = {"stop_reason": "early_stopping", "diagnosis": "overfitting"}
SUMMARY = "Validation loss was lowest at epoch 3 (0.5001); from epoch 4 the model overfits."
RUN = RunFacts("0123abcd", "winered-mlp-300x200x100", PARAMS, METRICS, TAGS, SUMMARY)
INPUTS = ModelInputs(("alcohol", "pH"), 2)


def test_version_card_says_data_params_best_epoch_diagnosis_test_metrics_and_run() -> None:
    card = version_card("winered-mlp", "3", RUN, INPUTS, ["bad", "good"])
    # Where the data came from and how big each split was.
    assert "csv from /data/winered.csv; rows: 1 195 train, 133 validation, 333 test." in card
    # What the model takes and returns.
    assert (
        "rows with 2 named columns (alcohol, pH), any int or float dtype; the model scales them "
        "itself." in card
    )
    # A label per row by default, the probabilities one switch away.
    assert (
        '**Output**: the class of each row (bad, good), or with `params={"output": '
        '"probabilities"}` one probability per class.' in card
    )
    # The key parameters.
    assert "hidden_units 300,200,100, activation relu, dropout 0.2" in card
    assert "optimizer adam, learning_rate 0.001, batch_size 128, epochs 30" in card
    # The best epoch, 1-based, with how training stopped and the monitored values there.
    assert "**Best epoch**: 3 of 8 (early_stopping), by val_loss: val_loss 0.5001" in card
    # The diagnosis: its label and the run's summary.
    assert f"**Diagnosis**: overfitting. {SUMMARY}" in card
    # The test metrics of the best weights, and the run it came from.
    assert "accuracy 0.7594, loss 0.4987" in card
    assert card.startswith("**winered-mlp version 3**, from run `winered-mlp-300x200x100`")
    assert "**Run**: `0123abcd`" in card


def test_version_card_of_a_run_without_diagnosis_or_test_score_leaves_them_out() -> None:
    bare = RUN._replace(metrics={"epochs_trained": 1.0}, tags={}, description="")
    card = version_card("m", "1", bare, ModelInputs((), 64), [str(d) for d in range(20)])
    assert "Diagnosis" not in card and "Test split" not in card
    assert "**Best epoch**: none" in card
    assert "rows of 64 raw values (pixels as stored), any int or float dtype" in card
    # A version logged before said which one dtype its signature enforced.
    older = version_card("m", "1", bare, ModelInputs((), 64, "float32"), ["0", "1"])
    assert "a float32 tensor of 64 raw pixel values per row" in older
    # Many classes: the first twelve, then how many in all.
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... (20 classes)" in card


def test_model_summary_says_what_the_model_takes_and_returns() -> None:
    text = model_summary("winered-mlp", RUN, INPUTS, ["bad", "good"])
    assert text.startswith("Keras MLP classifier on csv data (/data/winered.csv).")
    assert "Takes rows with 2 named columns (alcohol, pH)" in text
    assert "returns the class of each row (bad, good), or with `params=" in text
    assert "`winered-mlp@champion`" in text


def test_a_regression_card_speaks_the_labels_units() -> None:
    params = {**PARAMS, "task": "regression", "label_column": "quality", "loss": "auto"}
    metrics = {
        "best_epoch": 6.0,
        "epochs_trained": 12.0,
        "best_val_loss": 0.4621,
        "best_val_mae": 0.4621,
        "test_mae": 0.504,
        "test_rmse": 0.6312,
        "test_r2": 0.3902,
        "test_loss": 0.504,
    }
    run = RunFacts("0123abcd", "winered-mlp", params, metrics, TAGS, SUMMARY)
    card = version_card("winered-mlp", "1", run, INPUTS, [])
    assert "- **Output**: one number per row, the predicted quality in its own units." in card
    assert "loss mae, optimizer adam" in card  # auto resolved to what was trained on
    assert "by val_loss: val_loss 0.4621, val_mae 0.4621" in card
    assert "(best weights, in quality's units): MAE 0.5040, RMSE 0.6312, R² 0.3902." in card
    assert "probability" not in card and "accuracy" not in card
    summary = model_summary("winered-mlp", run, INPUTS, [])
    assert summary.startswith("Keras MLP regressor on csv data")
    assert "the predicted quality in its own units" in summary
