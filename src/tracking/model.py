"""The Sequential MLP of the Keras tutorials, built from a TrainConfig: the whole predictor.

The model scales its raw input itself (its first layer), so what is trained, scored and logged
takes rows as stored: pixels 0..255, or a CSV's values (its columns by name are matched by the
logged model's python_function wrapper, ``tracking.keras_rows``).
"""

from __future__ import annotations

import keras
import numpy as np

from tracking.config import TrainConfig


def build_model(
    config: TrainConfig,
    n_features: int,
    n_classes: int,
    offset: np.ndarray | None = None,
    divisor: np.ndarray | None = None,
    label_mean: float = 0.0,
    label_std: float = 1.0,
) -> keras.Model:
    """[scaling] -> (Dense -> [BatchNormalization] -> activation -> [Dropout]) x n -> output.

    The output: softmax over ``n_classes`` for classification; for regression
    (``config.task``) one linear unit whose standardised value is turned back into the label's
    units (``* label_std + label_mean``, the training labels' statistics), so the loss, the
    metrics and the logged model all speak the label's units.

    Scaling computes ``(x - offset) / divisor`` per feature (a Normalization layer with those
    constants; absent when both are None). L2 applies to every hidden kernel. BatchNormalization
    sits between the linear part and the activation, as in the tutorials this project follows;
    without it the activation is fused into the Dense layer.
    """
    l2 = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=(n_features,), name="features")]
    if offset is not None and divisor is not None:
        # Normalization divides by sqrt(variance): variance = divisor**2 gives x / 255 exactly.
        variance = np.square(np.asarray(divisor, dtype=np.float64))
        layers.append(keras.layers.Normalization(mean=offset, variance=variance, name="scaling"))
    for i, units in enumerate(config.units, start=1):
        layers.append(
            keras.layers.Dense(
                units,
                activation=None if config.batch_norm else config.activation,
                kernel_initializer=config.kernel_initializer,
                kernel_regularizer=l2,
                name=f"hidden_{i}",
            )
        )
        if config.batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
            layers.append(keras.layers.Activation(config.activation, name=f"activation_{i}"))
        if config.dropout > 0:
            layers.append(keras.layers.Dropout(config.dropout, name=f"dropout_{i}"))
    if config.regression:
        layers.append(keras.layers.Dense(1, name="output"))
        layers.append(keras.layers.Rescaling(label_std, offset=label_mean, name="label_units"))
    else:
        layers.append(keras.layers.Dense(n_classes, activation="softmax", name="output"))
    model = keras.Sequential(layers, name="mlp")
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate),
        loss=config.keras_loss,
        metrics=list(config.keras_metrics),
    )
    return model


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    optimizers = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[name](learning_rate=learning_rate)


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines) + "\n"
