"""The whole predictor: the project's scaling around the model a model function builds.

``build_model`` calls the run's model function (``-P model``, ``tracking.config.model_function``) as
``function(params, input_shape, n_outputs)`` and wraps the project's own preprocessing around
what it returns: the raw input is scaled in the first layer (pixels by their range, CSV columns
by the training rows' min and max) and, for regression, the standardised output is turned back
into the label's units in the last. So what is trained, scored and logged takes rows as stored
(a CSV's columns by name are matched by the logged model's python_function wrapper,
``tracking.model.keras_rows``). The built-in MLP of the Keras tutorials is ``mlp``, one such
function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tracking.config.errors import ConfigError
from tracking.config.model_function import load_function
from tracking.config.train import TrainConfig
from tracking.model.scaling import NO_SCALING, Scaling


def mlp(params: Mapping[str, Any], input_shape: Sequence[int], n_outputs: int) -> keras.Model:
    """(Dense -> [BatchNormalization] -> activation -> [Dropout]) x n -> output; uncompiled.

    ``params``: ``hidden_units`` (``"300,200,100"``), ``activation``, ``kernel_initializer``,
    ``batch_norm``, ``dropout``, ``l2`` (on every hidden kernel), ``translation`` (images: each
    training image shifted at random by up to that fraction of its height and width, the
    empty border black; the layer passes images on unchanged at inference). The output: softmax over
    ``n_outputs`` classes, or one linear unit when ``n_outputs`` is 1 (regression). An input of
    more than one axis (an image) is flattened first. BatchNormalization sits between the
    linear part and the activation, as in the tutorials this project follows; without it the
    activation is fused into the Dense layer.
    """
    l2 = keras.regularizers.L2(params["l2"]) if params["l2"] > 0 else None
    batch_norm, activation = bool(params["batch_norm"]), str(params["activation"])
    layers: list[keras.layers.Layer] = [keras.Input(shape=tuple(input_shape), name="features")]
    translation = float(params.get("translation", 0.0))
    if translation > 0:  # training only: Keras's preprocessing layers pass inputs on at inference
        layers.append(keras.layers.Reshape(image_shape(input_shape, translation), name="image"))
        layers.append(
            keras.layers.RandomTranslation(
                translation, translation, fill_mode="constant", name="random_translation"
            )
        )
    if len(input_shape) > 1 or translation > 0:
        layers.append(keras.layers.Flatten(name="flatten"))
    units = [int(u) for u in str(params["hidden_units"]).split(",")]
    for i, size in enumerate(units, start=1):
        layers.append(
            keras.layers.Dense(
                size,
                activation=None if batch_norm else activation,
                kernel_initializer=str(params["kernel_initializer"]),
                kernel_regularizer=l2,
                name=f"hidden_{i}",
            )
        )
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"batch_norm_{i}"))
            layers.append(keras.layers.Activation(activation, name=f"activation_{i}"))
        if params["dropout"] > 0:
            layers.append(keras.layers.Dropout(params["dropout"], name=f"dropout_{i}"))
    if n_outputs == 1:
        layers.append(keras.layers.Dense(1, name="output"))
    else:
        layers.append(keras.layers.Dense(n_outputs, activation="softmax", name="output"))
    return keras.Sequential(layers, name="mlp")


def image_shape(input_shape: Sequence[int], translation: float) -> tuple[int, int, int]:
    """One example as height x width x channels: flat pixels of a square image (MNIST's 784:
    28x28x1), a 2-D image with one channel added, or an image that has its channels. Else
    ConfigError naming ``translation``, the parameter that asked for an image."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        return (math.isqrt(shape[0]), math.isqrt(shape[0]), 1)
    if len(shape) in (2, 3):
        return (shape[0], shape[1], shape[2] if len(shape) == 3 else 1)
    raise ConfigError(
        "translation",
        translation,
        f"shifts images, but an example of shape {shape} is not one",
        "pass -P translation=0",
    )


def build_model(
    config: TrainConfig,
    input_shape: int | Sequence[int],
    n_classes: int,
    scaling: Scaling = NO_SCALING,
    *,
    function: Callable[..., Any] | None = None,
) -> keras.Model:
    """[scaling] -> the model function's model -> [label units], compiled.

    ``input_shape``: one raw example's shape (an int: that many features). ``scaling`` (the
    dataset's, ``tracking.model.scaling``): the first layer computes ``(x - offset) / divisor``,
    per feature (a Normalization layer) or one value for every pixel (a Rescaling layer), none
    when the offset is empty. For regression (``config.task``) the model's one output is read as
    standardised and turned into the label's units (``* label_std + label_mean``), so the loss,
    the metrics and the logged model all speak the label's units.

    A model the function returned uncompiled is compiled with ``optimizer``, ``learning_rate``
    and the task's loss; a compiled one keeps its optimizer and loss. Either way the task's
    metrics are compiled (what ``monitor`` reads). Raises ConfigError naming ``model`` when the
    function fails, returns no Keras model, does not take the input or gives outputs that do
    not match the labels.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(int(d) for d in input_shape)
    n_outputs = 1 if config.regression else n_classes
    core = _called(config, function or load_function(config.model), shape, n_outputs)
    inputs = keras.Input(shape=shape, name="features")
    x = _scaling(inputs, scaling)
    try:  # a Sequential's layers join the graph one by one: the summary shows them all
        if isinstance(core, keras.Sequential):
            for layer in core.layers:
                x = layer(x)
        else:
            x = core(x)
    except Exception as error:
        raise _refused(config, f"does not take inputs of shape {shape}: {_error(error)}") from error
    if config.regression:
        x = keras.layers.Rescaling(
            scaling.label_std, offset=scaling.label_mean, name="label_units"
        )(x)
    model = keras.Model(inputs, x, name=core.name)
    _check_outputs_shape(config, model, n_outputs)
    compiled = getattr(core, "compiled", False) and core.optimizer is not None
    model.compile(
        optimizer=core.optimizer
        if compiled
        else make_optimizer(config.optimizer, config.learning_rate),
        loss=core.loss if compiled else config.keras_loss,
        metrics=list(config.keras_metrics),
    )
    return model


def _called(
    config: TrainConfig, function: Callable[..., Any], shape: tuple[int, ...], n_outputs: int
) -> keras.Model:
    """The Keras model ``function`` returns for ``shape``; ConfigError when it fails, returns
    something else or declares another input shape."""
    called = f"{config.model}(params, input_shape={shape}, n_outputs={n_outputs})"
    try:
        core = function(model_params(config), shape, n_outputs)
    except ConfigError:  # the function refused a parameter by name (the built-in MLP's translation)
        raise
    except Exception as error:
        raise _refused(config, f"raised {_error(error)} when called as {called}") from error
    if not isinstance(core, keras.Model):
        raise _refused(config, f"returned {type(core).__name__}, not a Keras model ({called})")
    declared = _declared_shape(core)
    if declared is not None and (
        len(declared) != len(shape)
        or any(d not in (None, s) for d, s in zip(declared, shape, strict=True))
    ):
        raise _refused(
            config,
            f"does not take inputs of shape {shape}: its Input is {declared}",
            "build the model's Input from the input_shape argument (keras.Input(input_shape))",
        )
    return core


def model_params(config: TrainConfig) -> dict[str, Any]:
    """What the model function gets: every hyperparameter, built-in and the user's own."""
    built_in = {k: v for k, v in config.as_params().items() if k != "params"}
    return {**built_in, **config.user_params}


def _check_outputs_shape(config: TrainConfig, model: keras.Model, n_outputs: int) -> None:
    if tuple(model.output_shape[1:]) == (n_outputs,):
        return
    wanted = "1 number per example (regression)" if n_outputs == 1 else (
        f"{n_outputs} class probabilities per example"
    )  # fmt: skip
    raise _refused(
        config,
        f"outputs shape {tuple(model.output_shape[1:])} per example but the labels need {wanted}",
        f"end the model in Dense({n_outputs}"
        + (")" if n_outputs == 1 else ', activation="softmax")'),
    )


def check_model(config: TrainConfig, dataset: Any) -> None:
    """Build ``config``'s model for ``dataset`` (a ``tracking.data.datasets.Dataset``) once and
    check its outputs on a few training examples, so that a model function that fails is refused
    before a run exists (raises ConfigError); nothing of it is kept."""
    keras.utils.set_random_seed(config.seed)
    try:
        model = build_model(config, dataset.input_shape, dataset.n_classes, dataset.scaling)
        check_outputs(config, model, dataset.x_train)
    finally:
        keras.backend.clear_session()


def check_outputs(config: TrainConfig, model: keras.Model, x: np.ndarray) -> None:
    """Raise ConfigError unless a classifier's outputs on ``x`` are probabilities (softmax)."""
    if config.regression or len(x) == 0:
        return
    out = np.asarray(model.predict(x[:8], verbose=0), dtype=np.float64)
    if np.all(np.isfinite(out)) and out.min() >= 0 and np.allclose(out.sum(axis=1), 1, atol=1e-3):
        return
    raise _refused(
        config,
        "outputs values that are not class probabilities (rows must sum to 1)",
        'end the model in a softmax, e.g. Dense(n_outputs, activation="softmax")',
    )


def _declared_shape(model: keras.Model) -> tuple[int | None, ...] | None:
    """The shape of one example the model says it takes (None: it does not say yet)."""
    try:
        tensors = model.inputs
    except (AttributeError, ValueError):
        return None
    if not tensors:
        return None
    return tuple(tensors[0].shape[1:])


def _scaling(inputs: Any, scaling: Scaling) -> Any:
    if not scaling.scales_inputs:
        return inputs
    offset, divisor = np.asarray(scaling.offset), np.asarray(scaling.divisor)
    if offset.size == 1:  # one range for every value of the example (pixels of an image)
        low, span = float(offset.ravel()[0]), float(divisor.ravel()[0])
        return keras.layers.Rescaling(1.0 / span, offset=-low / span, name="scaling")(inputs)
    # Normalization divides by sqrt(variance): variance = divisor**2 gives x / 255 exactly.
    variance = np.square(divisor.astype(np.float64))
    return keras.layers.Normalization(mean=offset, variance=variance, name="scaling")(inputs)


def _refused(config: TrainConfig, problem: str, fix: str = "") -> ConfigError:
    return ConfigError(
        "model",
        config.model,
        problem,
        fix
        or "fix the function: it is called as function(params, input_shape, n_outputs) "
        "and returns a Keras model",
    )


def _error(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


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


def predict_rows(model: keras.Model, x: Any, batch_size: int = 1024) -> np.ndarray:
    """``model.predict(x)`` for one pass, called eagerly in batches: ``predict`` would first
    trace a function for it (seconds on a loaded machine; ``benchmarks/overhead.py``)."""
    batches = [
        keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(batches)


class EagerModel:
    """A Keras model whose ``predict`` is ``predict_rows``: what ``tracking.model.keras_rows`` calls
    to check a model it was handed in memory."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model

    def predict(self, x: Any, batch_size: int = 1024, verbose: Any = 0) -> np.ndarray:
        return predict_rows(self.model, x, batch_size)
