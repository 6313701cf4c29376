"""The REST protocol of `mlflow models serve`, its four input formats, on registered models.

The same request bodies go to MLflow's scoring code in this process
(``scoring_server.invocations``, what the server's /invocations runs on each body: fast, every
model) and to real `mlflow models serve` processes (slow: one model per dataset, by `main` or by
`sweep`). What comes back is compared with the native Keras model (``Reference``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from tests import browser
from tests.registered_models import Data, Reference, Zoo, model_params

FORMATS = ("inputs", "instances", "dataframe_split", "dataframe_records")
SERVED = ["mnist-main", "digits-sweep", "wine-sweep", "diabetes-main"]


def bodies(data: Data) -> dict[str, dict[str, Any]]:
    """One request body per format, the rows as users hold them (a CSV's label included)."""
    if data.label:
        frame = data.rows
        columns = {c: frame[c].tolist() for c in frame.columns}
        records = frame.to_dict(orient="records")
        return {
            "inputs": {"inputs": columns},
            "instances": {"instances": records},
            "dataframe_split": {"dataframe_split": frame.to_dict(orient="split")},
            "dataframe_records": {"dataframe_records": records},
        }
    rows = data.rows  # uint8 images, or float64 rows of 64
    frame = pd.DataFrame(rows.reshape(len(rows), -1))
    return {
        "inputs": {"inputs": rows.tolist()},
        "instances": {"instances": rows.tolist()},
        "dataframe_split": {"dataframe_split": frame.to_dict(orient="split")},
        "dataframe_records": {"dataframe_records": frame.to_dict(orient="records")},
    }


def bad_body(data: Data) -> tuple[dict[str, Any], str]:
    """A request a user gets wrong, and what the answer must name."""
    if data.label:
        frame = data.rows.drop(columns=data.features.columns[0])
        missing = f"missing column '{data.features.columns[0]}'"
        return {"dataframe_split": frame.to_dict(orient="split")}, missing
    short = data.rows.reshape(len(data.rows), -1)[:2, :-1]
    return {"inputs": short.tolist()}, f"got {short.shape[1]} values per row"


def check_predictions(
    predictions: Any, expected: np.ndarray, regression: bool, what: str = ""
) -> None:
    got = np.asarray(predictions)
    if regression:
        np.testing.assert_allclose(got.astype(np.float64), expected, 1e-5, 1e-4, err_msg=what)
    else:
        assert got.tolist() == expected.tolist(), what


def check_probabilities(predictions: Any, reference: Reference) -> None:
    """One record per row, one probability per class name, the best one the label."""
    frame = pd.DataFrame(predictions)
    assert list(frame.columns) == reference.metadata["class_names"]
    np.testing.assert_allclose(frame.sum(axis=1), 1, atol=1e-4)
    best = np.asarray(reference.metadata["classes"])[frame.to_numpy().argmax(axis=1)]
    assert best.tolist() == reference().tolist()


@pytest.mark.parametrize("model_id", model_params())
def test_scoring_protocol_takes_every_format(zoo: Zoo, model_id: str) -> None:
    registered = zoo[model_id]
    data, reference = registered.data, Reference(registered)
    model = mlflow.pyfunc.load_model(registered.uri)
    schema = model.metadata.get_input_schema()

    def post(body: dict[str, Any]) -> Any:
        response = scoring_server.invocations(json.dumps(body), "application/json", model, schema)
        assert response.status == 200, response.response
        return json.loads(response.response)["predictions"]

    expected = reference()
    for name, body in bodies(data).items():
        check_predictions(post(body), expected, data.regression, name)
    if not data.regression:  # the switch travels in the body's params
        body = {**bodies(data)["dataframe_split"], "params": {"output": "probabilities"}}
        check_probabilities(post(body), reference)
    # A bad request is an MlflowException that the server turns into HTTP 400, naming it.
    body, said = bad_body(data)
    with pytest.raises(MlflowException) as raised:
        scoring_server.invocations(json.dumps(body), "application/json", model, schema)
    assert raised.value.get_http_status_code() == 400
    assert said in raised.value.message.splitlines()[-1], raised.value.message[-500:]
    # CSV, as `curl -H 'Content-Type: text/csv' --data-binary @rows.csv` sends it.
    csv = data.write_csv(zoo.directory / f"{model_id}-rest.csv").read_text()
    response = scoring_server.invocations(csv, "text/csv", model, schema)
    check_predictions(json.loads(response.response)["predictions"], expected, data.regression)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("model_id", SERVED)
def test_mlflow_models_serve_answers_every_format(
    zoo: Zoo, model_id: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    registered = zoo[model_id]
    data, reference = registered.data, Reference(registered)

    def command(port: int) -> list[str]:
        return [
            *(str(browser.BIN / "mlflow"), "models", "serve", "-m", registered.uri),
            *("--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)),
        ]

    env = browser.project_env(zoo.store)
    with browser.serve("models-serve", command, health="/ping", cwd=tmp_path, env=env) as server:
        record_property("serve_startup_seconds", round(server.startup_seconds, 1))
        url = f"{server.url}/invocations"
        expected = reference()
        for name, body in bodies(data).items():
            status, answer = browser.http_json(url, body)
            assert status == 200, (name, answer)
            assert isinstance(answer, dict)
            check_predictions(answer["predictions"], expected, data.regression, name)
        if not data.regression:
            body = {**bodies(data)["inputs"], "params": {"output": "probabilities"}}
            status, answer = browser.http_json(url, body)
            assert status == 200 and isinstance(answer, dict), answer
            check_probabilities(answer["predictions"], reference)
        body, said = bad_body(data)
        status, answer = browser.http_json(url, body)
        assert status == 400 and isinstance(answer, dict), answer
        assert said in answer["message"], answer["message"][-500:]
        assert server.process.poll() is None, "down after the bad request"
    log = server.log.read_text(errors="replace")
    assert "━" not in log and "oneDNN" not in log, log[-2000:]  # quiet predictions
