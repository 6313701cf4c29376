from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tracking.config.errors import MonitorError
from tracking.model.callbacks import BestWeights, DivergenceGuard


class FabricatedValidation(keras.callbacks.Callback):
    """Overwrites val_loss with a fixed sequence and snapshots the weights of every epoch."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values
        self.snapshots: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs["val_loss"] = self.values[epoch]
        self.snapshots.append(self.model.get_weights())


def _tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)


def test_best_weights_are_the_best_epoch_by_value_not_the_last() -> None:
    x, y = _data()
    model = _tiny_model()
    fake = FabricatedValidation([0.5, 0.3, 0.4, 0.35, 0.6])
    best = BestWeights("val_loss", "min")
    model.fit(x, y, epochs=5, verbose=0, callbacks=[fake, best])
    assert best.best_epoch == 1 and best.best == pytest.approx(0.3)
    assert best.restore(model)
    for kept, expected in zip(model.get_weights(), fake.snapshots[1], strict=True):
        np.testing.assert_array_equal(kept, expected)
    # and they are not the last epoch's weights
    assert not np.array_equal(model.get_weights()[0], fake.snapshots[-1][0])


def test_max_mode_and_nan_never_best() -> None:
    x, y = _data()
    model = _tiny_model()
    # A NaN first: without the guard it would become the best (nothing compares above NaN).
    fake = FabricatedValidation([math.nan, 0.2, 0.9, 0.5])
    best = BestWeights("val_loss", "max")
    model.fit(x, y, epochs=4, verbose=0, callbacks=[fake, best])
    assert best.best_epoch == 2


def test_missing_monitor_raises_at_first_epoch_naming_available_keys() -> None:
    x, y = _data()
    with pytest.raises(MonitorError, match="val_loss.*available: loss"):
        _tiny_model().fit(x, y, epochs=3, verbose=0, callbacks=[BestWeights("val_loss")])


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        BestWeights("val_loss", "smallest")


def test_divergence_guard_stops_and_remembers() -> None:
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(1e30), "sparse_categorical_crossentropy")
    guard = DivergenceGuard()
    history = model.fit(x * 1e6, y, epochs=5, batch_size=4, verbose=0, callbacks=[guard])
    assert guard.diverged
    assert len(history.history["loss"]) < 5
