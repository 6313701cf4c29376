"""A small CNN for images, as a model function: ``-P model=examples/cnn.py:build``.

    mlflow run . -P model=examples/cnn.py:build -P input_shape=image -P params='{"filters": 32}'

The project calls ``build(params, input_shape, n_outputs)`` and wraps its own scaling around
what it returns (raw pixels in), then compiles it with ``optimizer``, ``learning_rate`` and the
task's loss. ``params`` holds every hyperparameter of the run: the built-in ones (``dropout``
and ``l2`` are used here) and the ones given with ``-P params`` (``filters``, ``kernel_size``,
``dense_units``; the defaults below apply when they are not given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras


def build(params: Mapping[str, Any], input_shape: Sequence[int], n_outputs: int) -> keras.Model:
    """Conv -> pool -> Conv -> pool -> Dropout -> Dense -> Dropout -> softmax (or one number).

    Takes images (H, W, C) or (H, W); flat rows of a square image (MNIST's 784 pixels) are
    reshaped into one, so the CNN also runs with ``-P input_shape=auto``.
    """
    filters = int(params.get("filters", 32))
    kernel_size = int(params.get("kernel_size", 3))
    dense_units = int(params.get("dense_units", 128))
    dropout = float(params.get("dropout", 0.0))
    l2 = keras.regularizers.L2(params["l2"]) if params.get("l2", 0) > 0 else None
    layers: list[keras.layers.Layer] = [keras.Input(shape=tuple(input_shape))]
    if len(input_shape) == 1:
        side = math.isqrt(input_shape[0])
        if side * side != input_shape[0]:
            raise ValueError(f"input_shape {tuple(input_shape)} is not an image: pass images")
        layers.append(keras.layers.Reshape((side, side, 1)))
    elif len(input_shape) == 2:
        layers.append(keras.layers.Reshape((*input_shape, 1)))
    for i, width in enumerate((filters, filters * 2), start=1):
        layers.append(
            keras.layers.Conv2D(
                width,
                kernel_size,
                padding="same",
                activation="relu",
                kernel_regularizer=l2,
                name=f"conv_{i}",
            )
        )
        layers.append(keras.layers.MaxPooling2D(2, name=f"pool_{i}"))
    layers += [keras.layers.Flatten(), keras.layers.Dropout(dropout)]
    layers.append(keras.layers.Dense(dense_units, activation="relu", kernel_regularizer=l2))
    layers.append(keras.layers.Dropout(dropout))
    activation = "softmax" if n_outputs > 1 else None
    layers.append(keras.layers.Dense(n_outputs, activation=activation, name="output"))
    return keras.Sequential(layers, name="cnn")
