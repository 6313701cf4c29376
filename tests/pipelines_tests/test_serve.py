"""A registered model served over REST by `mlflow models serve`, as a user would run it.

Train on digits through the CLI, serve `models:/digits-mlp/1` with the project's environment
(`--env-manager local`), POST rows to /invocations and compare with the same model loaded in
process; malformed rows must be refused with HTTP 400 and leave the server up.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from tests import browser

MODEL = "digits-mlp"
N_FEATURES = 64


def digits_rows(n: int, example: np.ndarray) -> np.ndarray:
    """The first ``n`` rows of sklearn's digits, as the logged model takes them.

    Pixels are 0..16: the model takes them raw (it scales in its first layer) or divided by 16,
    whichever its own input example (rows of its training data) shows.
    """
    from sklearn.datasets import load_digits

    rows = load_digits().data[:n].astype(np.float32)
    return rows if example.max() > 1 else rows / 16


@pytest.mark.slow
def test_served_model_answers_as_the_loaded_model_and_refuses_bad_rows(
    tmp_path: Path, tracking_store: str, record_property: pytest.RecordProperty
) -> None:
    browser.run_pipeline(
        "pipelines.train",
        *("--dataset", "digits", "--epochs", "3", "--hidden-units", "32"),
        *("--registered-model-name", MODEL),
        cwd=tmp_path,
        tracking_uri=tracking_store,
    )
    uri = f"models:/{MODEL}/1"
    # what MLflow saved with the model for `curl -d @serving_input_example.json`
    example_file = mlflow.artifacts.download_artifacts(
        f"{uri}/serving_input_example.json", dst_path=str(tmp_path / "example")
    )
    example_body = json.loads(Path(example_file).read_text())
    example = np.asarray(example_body["inputs"], dtype=np.float32)
    rows = digits_rows(20, example)
    model = mlflow.pyfunc.load_model(uri)
    expected = model.predict(rows)
    assert expected.shape == (20,) and set(expected) <= set(range(10))  # a digit per row
    probabilities = model.predict(rows, params={"output": "probabilities"}).to_numpy()

    def command(port: int) -> list[str]:
        return [
            *(str(browser.BIN / "mlflow"), "models", "serve", "-m", uri),
            *("--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)),
        ]

    env = browser.project_env(tracking_store)
    with browser.serve("models-serve", command, health="/ping", cwd=tmp_path, env=env) as server:
        record_property("serve_startup_seconds", round(server.startup_seconds, 1))
        print(f"mlflow models serve answered /ping after {server.startup_seconds:.1f} s")
        invocations = f"{server.url}/invocations"

        status, body = browser.http_json(invocations, {"inputs": rows.tolist()})
        assert status == 200, body
        assert isinstance(body, dict)
        assert body["predictions"] == expected.tolist()

        switch = {"output": "probabilities"}
        status, body = browser.http_json(invocations, {"inputs": rows.tolist(), "params": switch})
        assert status == 200, body
        assert isinstance(body, dict)
        served = np.asarray([list(r.values()) for r in body["predictions"]], dtype=np.float32)
        np.testing.assert_allclose(served, probabilities, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(served.sum(axis=1), 1, atol=1e-4)  # softmax rows

        split = {"columns": list(range(N_FEATURES)), "data": rows.tolist()}
        status, body = browser.http_json(invocations, {"dataframe_split": split})
        assert status == 200, body
        assert isinstance(body, dict)
        assert body["predictions"] == expected.tolist()

        status, body = browser.http_json(invocations, example_body)
        assert status == 200, body
        assert isinstance(body, dict)
        assert body["predictions"] == model.predict(example).tolist()

        short = rows[:1, : N_FEATURES - 1].tolist()
        status, body = browser.http_json(invocations, {"inputs": short})
        assert status == 400, body
        assert isinstance(body, dict) and "the model takes 64 values per row" in body["message"]

        text = [["eight"] + [0.0] * (N_FEATURES - 1)]
        status, body = browser.http_json(invocations, {"inputs": text})
        assert status == 400, body
        assert isinstance(body, dict) and "could not convert string" in body["message"], body

        status, _ = browser.http_bytes(f"{server.url}/ping")
        assert status == 200 and server.process.poll() is None, "down after the bad rows"
