"""A model function: named by -P model, called as function(params, input_shape, n_outputs),
wrapped in the project's scaling; bad ones refused naming `model` (or `params`)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from tracking.config.errors import ConfigError
from tracking.config.model_function import check_spec, load_function, short_name, user_params
from tracking.config.train import TrainConfig, validate
from tracking.data.datasets import load_dataset
from tracking.model.build import build_model, check_model, mlp

REPO = Path(__file__).resolve().parents[2]
CNN = str(REPO / "examples" / "cnn.py") + ":build"


def _refused(parameter: str, spec: str, *, config: TrainConfig | None = None) -> str:
    with pytest.raises(ConfigError) as refused:
        if config is None:
            check_spec(spec)
        else:
            check_model(config, load_dataset(config))
    assert refused.value.parameter == parameter
    message = str(refused.value)
    assert "\n" not in message
    return message


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_the_built_in_mlp_is_a_model_function_like_any_other() -> None:
    # The default names the built-in function, found the way a user's module is.
    assert TrainConfig().model == "tracking.model:mlp"
    assert load_function(TrainConfig().model) is mlp
    assert short_name("tracking.model:mlp") == "mlp" and short_name(CNN) == "cnn"
    config = TrainConfig(dataset="digits", hidden_units="16,8")
    ds = load_dataset(config)
    model = build_model(config, ds.input_shape, ds.n_classes, ds.scaling)
    # The scaling wraps the MLP's own layers, one graph, the tutorials' layer names.
    names = [layer.name for layer in model.layers]
    assert names == ["features", "scaling", "hidden_1", "dropout_1", "hidden_2", "dropout_2",
                     "output"]  # fmt: skip
    # Raw pixels in (0..16 for digits): the model scales them itself.
    probabilities = model.predict(ds.x_test[:3], verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_translation_shifts_training_images_only() -> None:
    """MNIST's flat 784 pixels are shifted as a 28x28 picture while fitting; at inference the
    layer passes them on, so the logged model predicts what it would without it."""
    config = TrainConfig(max_train_samples=256, hidden_units="16", dropout=0.0, translation=0.2)
    ds = load_dataset(config)
    model = build_model(config, ds.input_shape, ds.n_classes, ds.scaling)
    names = [layer.name for layer in model.layers]
    assert names[2:5] == ["image", "random_translation", "flatten"]
    assert model.get_layer("image").output.shape[1:] == (28, 28, 1)
    x = ds.x_test[:8]
    np.testing.assert_allclose(model(x, training=False), model.predict(x, verbose=0), atol=1e-6)
    shifted = model.get_layer("random_translation")
    pictures = model.get_layer("image")(model.get_layer("scaling")(x))
    assert not np.allclose(shifted(pictures, training=True), pictures)  # shifted while fitting
    np.testing.assert_array_equal(shifted(pictures, training=False), pictures)


def test_translation_is_refused_where_examples_are_no_images(tmp_path: Path) -> None:
    path = tmp_path / "rows.npz"
    np.savez(path, x_train=np.random.default_rng(0).random((40, 5)), y_train=np.arange(40) % 2)
    config = TrainConfig(dataset="npz", data_path=str(path), translation=0.1)
    message = _refused("translation", "", config=config)
    assert "(5,)" in message and "-P translation=0" in message
    with pytest.raises(ConfigError) as csv:  # a CSV's rows, before anything is read
        validate(TrainConfig(dataset="csv", data_path="wine.csv", translation=0.1))
    assert csv.value.parameter == "translation" and "dataset=csv" in str(csv.value)


def test_params_reach_the_function_with_every_built_in(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def spy(params: dict[str, object], input_shape: tuple[int, ...], n_outputs: int) -> object:
        seen.update(params, input_shape=input_shape, n_outputs=n_outputs)
        return mlp(params, input_shape, n_outputs)

    config = TrainConfig(dataset="digits", input_shape="image", params='{"filters": 4}')
    ds = load_dataset(config)
    model = build_model(config, ds.input_shape, ds.n_classes, ds.scaling, function=spy)
    assert seen["filters"] == 4 and seen["dropout"] == 0.2 and seen["learning_rate"] == 1e-3
    assert seen["input_shape"] == (8, 8, 1) and seen["n_outputs"] == 10
    assert "params" not in seen  # the JSON text itself is not a hyperparameter
    assert model.input_shape == (None, 8, 8, 1)


def test_a_compiled_model_keeps_its_optimizer_and_loss(tmp_path: Path) -> None:
    spec = _write(
        tmp_path / "compiled.py",
        "import keras\n"
        "def build(params, input_shape, n_outputs):\n"
        "    m = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),\n"
        "                          keras.layers.Dense(n_outputs, activation='softmax')])\n"
        "    m.compile(optimizer=keras.optimizers.SGD(0.5),\n"
        "              loss='sparse_categorical_crossentropy')\n"
        "    return m\n",
    )
    config = TrainConfig(dataset="digits", model=f"{spec}:build")
    ds = load_dataset(config)
    model = build_model(config, ds.input_shape, ds.n_classes, ds.scaling)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)
    # An uncompiled one gets the run's optimizer and learning rate.
    plain = build_model(TrainConfig(dataset="digits", optimizer="rmsprop"), 64, 10)
    assert isinstance(plain.optimizer, keras.optimizers.RMSprop)


def test_bad_specs_are_refused_before_anything_runs(tmp_path: Path) -> None:
    assert "is not <file.py or module>:<function>" in _refused("model", "examples/cnn.py")
    assert "does not exist" in _refused("model", "nope.py:build")
    assert "names a directory" in _refused("model", f"{tmp_path}/:build")
    assert "cannot be imported" in _refused("model", "no_such_module_xyz:build")
    # A file is read, not run: its functions are listed in the fix.
    spec = _write(tmp_path / "mine.py", "import keras\ndef cnn(p, s, n):\n    return None\n")
    message = _refused("model", f"{spec}:build")
    assert "names no function 'build' in mine.py" in message and "cnn" in message
    broken = _write(tmp_path / "broken.py", "def build(:\n")
    assert "could not be read as Python" in _refused("model", f"{broken}:build")
    check_spec(CNN)  # the example is fine
    check_spec("tracking.model:mlp")


def test_bad_params_are_refused() -> None:
    for text, problem in [
        ("{filters: 32}", "is not valid JSON"),
        ("[32]", "is a JSON list, not an object"),
        ('{"dropout": 0.5}', "sets dropout, which the run already has"),
        ('{"n_train": 5}', "sets n_train"),
    ]:
        with pytest.raises(ConfigError) as refused:
            validate(TrainConfig(params=text))
        assert refused.value.parameter == "params" and problem in str(refused.value), text
    assert user_params('{"filters": 32, "sizes": [1, 2]}') == {"filters": 32, "sizes": [1, 2]}
    assert user_params("") == {}


def test_functions_that_fail_or_do_not_fit_are_refused(tmp_path: Path) -> None:
    def config(body: str) -> TrainConfig:
        spec = _write(
            tmp_path / "m.py", "import keras\ndef build(params, input_shape, n):\n" + body
        )
        return TrainConfig(dataset="digits", model=f"{spec}:build")

    raising = config("    raise RuntimeError('no GPU here')\n")
    message = _refused("model", "", config=raising)
    assert "raised RuntimeError: no GPU here when called as" in message
    assert "input_shape=(64,), n_outputs=10" in message
    not_a_model = config("    return 'a model'\n")
    assert "returned str, not a Keras model" in _refused("model", "", config=not_a_model)
    three = config(
        "    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(3,"
        " activation='softmax')])\n"
    )
    message = _refused("model", "", config=three)
    assert "outputs shape (3,) per example but the labels need 10 class" in message
    assert 'end the model in Dense(10, activation="softmax")' in message
    logits = config(
        "    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n)])\n"
    )
    assert "not class probabilities" in _refused("model", "", config=logits)
    images_only = config(
        "    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),"
        " keras.layers.Dense(n, activation='softmax')])\n"
    )
    assert "does not take inputs of shape (64,)" in _refused("model", "", config=images_only)
    importing = _write(tmp_path / "bad_import.py", "import no_such_lib\ndef build(p, s, n): pass\n")
    bad = TrainConfig(dataset="digits", model=f"{importing}:build")
    assert "failed to import: ModuleNotFoundError" in _refused("model", "", config=bad)
