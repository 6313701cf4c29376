"""What ``benchmarks/load.py`` counts as a failed request, read from real log formats (uvicorn's
access log of ``mlflow server``, MLflow's and gRPC's client messages). The benchmark itself needs
a PostgreSQL server and minutes (``python benchmarks/load.py``); its committed result is rendered
by ``report.py`` and checked by ``test_benchmarks_smoke``."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
try:
    import load
finally:
    sys.path.remove(str(BENCH))

SERVER_LOG = """\
2026/12/02 04:36:14 INFO:     Uvicorn running on http://127.0.0.1:40077 (Press CTRL+C to quit)
2026/12/02 04:36:32 INFO:     127.0.0.1:43882 - "GET /health HTTP/1.1" 200 OK
2026/12/02 04:36:40 INFO:     127.0.0.1:43890 - "POST /api/2.0/mlflow/runs/create HTTP/1.1" 400 Bad Request
2026/12/02 04:36:40 INFO:     127.0.0.1:43890 - "GET /api/2.0/mlflow/registered-models/get?name=digits-mlp HTTP/1.1" 404 Not Found
2026/12/02 04:36:41 INFO:     127.0.0.1:43891 - "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1" 200 OK
2026/12/02 04:37:02 INFO:     127.0.0.1:43897 - "GET /api/2.0/mlflow/registered-models/alias?name=digits-mlp&alias=champion HTTP/1.1" 400 Bad Request
2026/12/02 04:37:03 INFO:     127.0.0.1:43897 - "POST /api/2.0/mlflow/registered-models/create HTTP/1.1" 400 Bad Request
2026/12/02 04:37:05 INFO:     127.0.0.1:43899 - "POST /api/2.0/mlflow/runs/log-batch HTTP/1.1" 400 Bad Request
2026/12/02 04:37:06 INFO:     127.0.0.1:43899 - "POST /api/2.0/mlflow/runs/update HTTP/1.1" 503 Service Unavailable
2026/12/02 04:37:07 INFO:     127.0.0.1:43900 - "GET /api/2.0/mlflow/runs/get?run_id=abc HTTP/1.1" 401 Unauthorized
2026/12/02 04:37:08 INFO:     127.0.0.1:43901 - "POST /api/2.0/mlflow/runs/delete HTTP/1.1" 404 Not Found
"""  # noqa: E501


def test_the_protocols_answers_are_not_failures_everything_else_is() -> None:
    failed, answers = load.failed_requests(SERVER_LOG)
    # A 400 to a log-batch (e.g. a param logged again with another value), a 503, a 401 and a
    # 404 to a POST failed; the start-up probe's 400, a lookup's 404, the alias not set yet and
    # a registered model that exists already are how MLflow answers, not failures.
    assert failed == 4
    assert answers == {
        "400 POST /api/2.0/mlflow/runs/create": 1,
        "404 GET /api/2.0/mlflow/registered-models/get": 1,
        "400 GET /api/2.0/mlflow/registered-models/alias": 1,
        "400 POST /api/2.0/mlflow/registered-models/create": 1,
        "400 POST /api/2.0/mlflow/runs/log-batch": 1,
        "503 POST /api/2.0/mlflow/runs/update": 1,
        "401 GET /api/2.0/mlflow/runs/get": 1,
        "404 POST /api/2.0/mlflow/runs/delete": 1,
    }


def test_client_side_retries_and_errors_are_counted_progress_lines_are_not() -> None:
    output = """\
worker 1: trial 3 COMPLETE: batch_size=32 -> val_loss 0.4312 | best val_loss 0.4100 (trial 1)
2026/12/02 04:37:06 WARNING urllib3.connectionpool: Retrying (Retry(total=6)) after connection broken
trial 4 of study load lost its worker (no heartbeat); it is retried
Traceback (most recent call last):
grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:
	status = StatusCode.UNAVAILABLE
"""  # noqa: E501
    assert [line[:20] for line in load.client_errors(output)] == [
        "2026/12/02 04:37:06 ",
        "Traceback (most rece",
        "\tstatus = StatusCode",
    ]
