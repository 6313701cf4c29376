"""Your own model and data through the training entry point: examples/cnn.py:build on digits as
images and on an .npz, end to end; every bad model, params or .npz refused in one line, exit 2,
with no run and no registered version left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_digits

from pipelines.train import main
from tests.helpers import mlflow_run, role_filter

REPO = Path(__file__).resolve().parents[2]
CNN = f"{REPO / 'examples' / 'cnn.py'}:build"
QUICK = ["--max-train-samples", "300", "--epochs", "2", "--seed", "3"]


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _digits_npz(path: Path, *, labels: np.ndarray | None = None, **extra: np.ndarray) -> str:
    """sklearn's digits as 8x8 uint8 images; the last 300 as the file's own test split."""
    digits = load_digits()
    x, y = digits.images.astype(np.uint8), labels if labels is not None else digits.target
    arrays = {"x_train": x[:-300], "y_train": y[:-300], "x_test": x[-300:], "y_test": y[-300:]}
    np.savez(path, **{**arrays, **extra})
    return str(path)


def _image_folder(root: Path, n: int = 120) -> Path:
    """The first ``n`` digits 0, 1 and 2 as 8x8 greyscale PNGs, a sub-folder per class."""
    from PIL import Image

    digits = load_digits()
    names = {0: "zero", 1: "one", 2: "two"}
    for i in np.flatnonzero(digits.target < 3)[:n]:
        folder = root / names[int(digits.target[i])]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    return root


def _bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    def model(body: str) -> str:
        name = f"m{abs(hash(body))}.py"
        return _write(tmp_path / name, "import keras\ndef build(params, input_shape, n):\n" + body)

    raising = model("    raise ValueError('filters must be even')\n")
    wrong_width = model(
        "    return keras.Sequential([keras.Input(input_shape),"
        " keras.layers.Dense(3, activation='softmax')])\n"
    )
    npz = tmp_path / "no_labels.npz"
    np.savez(npz, x_train=np.zeros((20, 4)))
    short = tmp_path / "short.npz"
    np.savez(short, x_train=np.zeros((20, 4)), y_train=np.arange(19) % 2)
    not_npz = _write(tmp_path / "text.npz", "x_train,y_train\n")
    digits = ["--dataset", "digits"]
    one_class = _image_folder(tmp_path / "one_class", n=30) / "zero"
    for other in ("one", "two"):
        shutil.rmtree(one_class.parent / other)
    broken = _image_folder(tmp_path / "broken", n=30)
    (broken / "zero" / "notes.png").write_text("not an image")
    return {
        "images: one class only": (
            ["--dataset", "images", "--data-path", str(one_class.parent)],
            "has 1 sub-folder(s) of images; need one per class",
        ),
        "images: unreadable file": (
            ["--dataset", "images", "--data-path", str(broken)],
            "holds zero/notes.png, not a readable image",
        ),
        "model file missing": (digits + ["--model", "nope.py:build"], "model='nope.py:build'"),
        "model without colon": (digits + ["--model", "examples/cnn.py"], "is not <file.py"),
        "no such function": (digits + ["--model", f"{CNN[:-6]}:cnn"], "names no function 'cnn'"),
        "no such module": (digits + ["--model", "no_such_module_xyz:f"], "cannot be imported"),
        "function raising": (
            digits + ["--model", f"{raising}:build"],
            "raised ValueError: filters must be even",
        ),
        "output not matching the labels": (
            digits + ["--model", f"{wrong_width}:build"],
            "outputs shape (3,) per example but the labels need 10 class probabilities",
        ),
        "params bad JSON": (digits + ["--params", "{filters: 32}"], "params='{filters: 32}'"),
        "params not an object": (digits + ["--params", "32"], "is a JSON int, not an object"),
        "params clash": (digits + ["--params", '{"epochs": 3}'], "sets epochs"),
        "npz without path": (["--dataset", "npz"], "data_path='' is required for dataset=npz"),
        "npz missing": (["--dataset", "npz", "--data-path", "no.npz"], "does not exist"),
        "npz not a zip": (["--dataset", "npz", "--data-path", not_npz], "could not be read"),
        "npz without y_train": (["--dataset", "npz", "--data-path", str(npz)], "has no y_train"),
        "npz labels not matching": (
            ["--dataset", "npz", "--data-path", str(short)],
            "y_train (19,) is not one label per example of x_train (20, 4)",
        ),
        "image input for a csv": (
            ["--dataset", "csv", "--data-path", "x.csv", "--input-shape", "image"],
            "input_shape='image'",
        ),
    }


CASES = [
    "model file missing",
    "model without colon",
    "no such function",
    "no such module",
    "function raising",
    "output not matching the labels",
    "params bad JSON",
    "params not an object",
    "params clash",
    "npz without path",
    "npz missing",
    "npz not a zip",
    "npz without y_train",
    "npz labels not matching",
    "image input for a csv",
    "images: one class only",
    "images: unreadable file",
]  # each built in the test's tmp_path by _bad_cases


@pytest.mark.parametrize("case", CASES)
def test_bad_model_params_or_npz_is_one_line_exit_2_and_leaves_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _bad_cases(tmp_path)
    assert sorted(cases) == sorted(CASES)
    argv, expected = cases[case]
    code = main(argv)
    err = [line for line in capsys.readouterr().err.strip().splitlines() if " INFO " not in line]
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert expected in err[0], err[0]
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    assert MlflowClient().search_registered_models() == []


@pytest.mark.timeout(600)
def test_the_example_cnn_trains_on_digits_images_and_registers_a_model_taking_raw_images(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--dataset", "digits", "--input-shape", "image", "--model", CNN]
    assert main([*argv, "--params", '{"filters": 8, "dense_units": 32}', *QUICK]) == 0
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.info.status == "FINISHED" and run.info.run_name.startswith("digits-cnn-")
    params = run.data.params
    # Your own hyperparameters are params of the run, next to the JSON and the function.
    assert (params["filters"], params["dense_units"]) == ("8", "32")
    assert params["model"] == CNN and params["input_shape"] == "image"
    steps = [m.step for m in MlflowClient().get_metric_history(run.info.run_id, "val_loss")]
    assert steps == [0, 1]
    # The registered model takes raw 0..16 images in any layout a user holds them.
    model = mlflow.pyfunc.load_model("models:/digits-cnn/1")
    digits = load_digits()
    images = digits.images[:40].astype(np.uint8)
    labels = model.predict(images)
    assert labels.shape == (40,) and set(labels) <= set(range(10))
    np.testing.assert_array_equal(model.predict(digits.data[:40]), labels)  # flat rows of 64
    np.testing.assert_array_equal(model.predict(images[..., None].tolist()), labels)
    # Its card names the model function and shows the summary, scaling included.
    card = MlflowClient().get_model_version("digits-cnn", "1").description
    assert f"built by `{CNN}`" in card and '{"filters": 8, "dense_units": 32}' in card
    assert "conv_1 (Conv2D)" in card and "scaling (Rescaling)" in card
    assert "8x8x1 images of raw values" in card


@pytest.mark.timeout(600)
def test_an_npz_with_text_labels_trains_end_to_end(tmp_path: Path) -> None:
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])  # fmt: skip
    path = _digits_npz(tmp_path / "digits.npz", labels=names[load_digits().target])
    argv = ["--dataset", "npz", "--data-path", path, "--input-shape", "image", "--model", CNN]
    assert main([*argv, *QUICK, "--epochs", "1"]) == 0
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    params = run.data.params
    # The file's own test split; the training pool capped and split as for every dataset.
    assert (params["n_test"], params["n_train"], params["n_val"]) == ("300", "270", "30")
    contexts = sorted(i.tags[0].value for i in run.inputs.dataset_inputs)
    assert contexts == ["testing", "training", "validation"]
    model = mlflow.pyfunc.load_model("models:/digits-cnn/1")  # the file's stem: digits
    predicted = model.predict(load_digits().images[:5])
    assert set(predicted) <= set(names)  # the class names as the file holds them
    probabilities = model.predict(load_digits().images[:5], params={"output": "probabilities"})
    assert list(probabilities.columns) == sorted(names)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_mlflow_run_with_own_model_and_params(tmp_path: Path, tracking_store: str) -> None:
    """`mlflow run . -P model=... -P params='{...}'` as a user types it (quoting included)."""
    path = _digits_npz(tmp_path / "mine.npz")
    done = mlflow_run(
        tmp_path,
        tracking_store,
        dataset="npz",
        data_path=path,
        model=CNN,
        params='{"filters": 4, "kernel_size": 3}',
        epochs=1,
        max_train_samples=200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    (run,) = [r for r in runs if "filters" in r.data.params]
    assert (run.data.params["filters"], run.data.params["kernel_size"]) == ("4", "3")
    assert MlflowClient().get_registered_model("mine-cnn").latest_versions


@pytest.mark.timeout(900)
def test_a_sweep_of_the_example_cnn_promotes_a_model_taking_raw_images(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pipelines.sweep import main as sweep

    argv = ["--dataset", "digits", "--input-shape", "image", "--model", CNN, "--n-trials", "2",
            "--cv-folds", "0"]  # fmt: skip
    argv += ["--params", '{"filters": 4}', "--max-train-samples", "300", "--epochs-min", "1"]
    assert sweep([*argv, "--epochs-max", "2", "--pruner", "none"]) == 0
    trials = mlflow.search_runs(
        search_all_experiments=True,
        filter_string=role_filter("trial"),
        output_format="list",
    )
    assert len(trials) == 2
    # Every trial's model function got the user's params; each trial logs them.
    assert {(t.data.params["filters"], t.data.params["model"]) for t in trials} == {("4", CNN)}
    champion = mlflow.pyfunc.load_model("models:/digits-cnn@champion")
    assert champion.predict(load_digits().images[:3].astype(np.uint8)).shape == (3,)
    assert "digits-cnn version 1 (best trial) is now @champion" in capsys.readouterr().out
    # The promoted version's card shows the summary of the trial's model too.
    card = MlflowClient().get_model_version("digits-cnn", "1").description
    assert f"built by `{CNN}`" in card and "conv_2 (Conv2D)" in card


def test_a_sweep_refuses_a_failing_model_function_before_any_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.sweep import main as sweep

    spec = _write(tmp_path / "bad.py", "def build(params, input_shape, n):\n    return None\n")
    assert sweep(["--dataset", "digits", "--model", f"{spec}:build"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "returned NoneType, not a Keras model" in err[0], err
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


@pytest.mark.timeout(600)
def test_a_folder_of_images_trains_end_to_end(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "shapes")
    argv = ["--dataset", "images", "--data-path", str(folder), "--model", CNN, "--epochs", "1"]
    assert main(argv) == 0
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.params["n_classes"] == "3" and run.data.params["n_test"] == "24"
    model = mlflow.pyfunc.load_model("models:/shapes-cnn/1")
    # Raw 8x8 greyscale images in (0..255 as the PNGs hold them), the folder names out.
    digits = load_digits()
    predicted = model.predict((digits.images[:6] * 255 / 16).astype(np.uint8))
    assert set(predicted) <= {"zero", "one", "two"}


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "nope.py:build"],
        ["--model", f"{CNN[:-6]}:cnn"],
        ["--params", "{filters: 32}"],
        ["--dataset", "npz", "--data-path", "missing.npz"],
        ["--dataset", "images", "--data-path", "missing/"],
    ],
)
def test_bad_model_or_data_is_refused_before_tensorflow_is_imported(argv: list[str]) -> None:
    code = (
        f"import sys; from pipelines.train import main; rc = main({argv!r});"
        "print(rc, *[m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'src'}"},
    )
    assert done.stdout.split() == ["2"], done.stdout + done.stderr


@pytest.mark.timeout(600)
def test_the_cnn_on_mnist_images_from_an_npz_is_served_over_rest_and_evaluated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's own images (400 MNIST 28x28 uint8 images in an .npz) through examples/cnn.py:
    the registered model describes 28x28x1 image tensors, MLflow's scoring server (what `mlflow
    models serve` runs on each request) answers image tensors as the model itself does, and
    ``python -m pipelines.evaluate`` scores it on the file's own test split as its run did."""
    import json

    from mlflow.pyfunc import scoring_server

    from pipelines.evaluate import main as evaluate
    from tracking.data import mnist as _mnist_offline
    from tracking.data.datasets import _default_cache_dir

    mnist, _ = _mnist_offline.load_mnist(_default_cache_dir())
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=mnist.x_train[:400].reshape(-1, 28, 28), y_train=mnist.y_train[:400],
             x_test=mnist.x_test[:100].reshape(-1, 28, 28), y_test=mnist.y_test[:100])  # fmt: skip
    data = ["--dataset", "npz", "--data-path", str(path)]
    argv = [*data, "--input-shape", "image", "--model", CNN, "--params", '{"filters": 8}']
    assert main([*argv, "--epochs", "2", "--seed", "3"]) == 0
    trained = capsys.readouterr().out.strip().splitlines()[-1]  # run ...: test accuracy 0.x
    uri = "models:/mine-cnn/1"
    model = mlflow.pyfunc.load_model(uri)
    assert model.metadata.metadata["input"]["shape"] == [28, 28, 1]  # an image tensor per row
    images = mnist.x_test[:20].reshape(-1, 28, 28)  # uint8, as the user holds them
    expected = model.predict(images)
    schema = model.metadata.get_input_schema()

    def post(body: dict) -> scoring_server.Response:  # what /invocations does with a body
        return scoring_server.invocations(json.dumps(body), "application/json", model, schema)

    for body in (
        {"inputs": images.tolist()},  # (n, 28, 28)
        {"inputs": images[..., None].tolist()},  # (n, 28, 28, 1)
        {"instances": images.tolist()},
    ):
        response = post(body)
        assert response.status == 200, response.response
        assert json.loads(response.response)["predictions"] == expected.tolist()
    with pytest.raises(mlflow.exceptions.MlflowException) as refused:  # 8x8 digits: HTTP 400
        post({"inputs": load_digits().images[:2].tolist()})
    assert refused.value.get_http_status_code() == 400
    # evaluate: the file's own test split, the same accuracy as the run's
    assert evaluate(["--model-uri", uri, *data]) == 0
    out = capsys.readouterr().out
    accuracy = trained.rsplit("test accuracy ", 1)[1]
    assert f"test accuracy {accuracy}" in out, (trained, out)
    assert "mlflow.models.evaluate: accuracy_score" in out
