"""What the start-up check refuses without any server: a password in the tracking URL."""

from __future__ import annotations

import pytest

from tracking.config.errors import ConfigError
from tracking.preflight.servers import check_tracking_uri


def test_a_password_in_an_http_tracking_uri_is_refused_and_masked() -> None:
    # Credentials belong in MLFLOW_TRACKING_USERNAME/PASSWORD, which the message names.
    with pytest.raises(ConfigError) as error:
        check_tracking_uri("http://alice:hunter2-secret@127.0.0.1:1")
    message = str(error.value)
    assert error.value.parameter == "MLFLOW_TRACKING_URI" and "holds a password" in message
    assert "MLFLOW_TRACKING_USERNAME" in message and "MLFLOW_TRACKING_PASSWORD" in message
    assert "hunter2" not in message and "\n" not in message
