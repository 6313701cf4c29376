"""What a sweep trial leaves behind in the process (issue: memory flat across trials)."""

from __future__ import annotations

import gc

import keras

from tests.helpers import train_run
from tracking.config.train import TrainConfig


def _live(type_name: str) -> int:
    gc.collect()
    return sum(type(o).__name__ == type_name for o in gc.get_objects())


def test_a_trial_leaves_no_model_and_few_tensorflow_functions_behind() -> None:
    config = TrainConfig(dataset="digits", hidden_units="32,16", epochs=1, registered_model_name="")
    train_run(config, verbose=0)  # warm-up: the first trial builds what every trial shares
    functions, models = _live("AtomicFunction"), _live("Sequential")
    train_run(config, verbose=0)
    train_run(config, verbose=0)
    # Keras leaves 2 functions per metric variable (TensorFlow keeps them for the process);
    # an optimizer built inside fit() would leave 2 per slot variable too (32 with Adam here).
    assert _live("AtomicFunction") - functions <= 2 * 8
    assert _live("Sequential") == models  # no model kept alive by our callbacks or results
    keras.backend.clear_session()
