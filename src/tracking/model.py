"""The Sequential MLP of the Keras tutorials, built from a TrainConfig."""

from __future__ import annotations

import keras

from tracking.config import TrainConfig


def build_model(config: TrainConfig, n_features: int, n_classes: int) -> keras.Model:
    """Dense -> [BatchNormalization] -> activation -> [Dropout] per hidden layer, softmax out.

    L2 applies to every hidden kernel. BatchNormalization sits between the linear part and the
    activation, as in the tutorials this project follows; without it the activation is fused into
    the Dense layer.
    """
    l2 = keras.regularizers.L2(config.l2) if config.l2 > 0 else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=(n_features,), name="pixels")]
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
    layers.append(keras.layers.Dense(n_classes, activation="softmax", name="output"))
    model = keras.Sequential(layers, name="mlp")
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
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
