from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest

from tests.helpers import train_run
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.door.tracker import Tracker
from tracking.sweep.promotion import ALIAS, decide, promote, score_rows
from tracking.sweep.significance import Scored

NAME = "digits-mlp"


def _scored(value: float, n: int = 1000) -> Scored:
    rows = np.zeros(n, dtype=bool)
    rows[: round(value * n)] = True  # the better model is right on every row the other is
    return Scored(value, rows)


def test_decide_higher_accuracy_wins_beyond_noise_only() -> None:
    assert decide(_scored(0.9), None, "test_accuracy")[0]
    assert decide(_scored(0.95), _scored(0.9), "test_accuracy")[0]  # 50 of 1000 rows: p < 1e-9
    assert not decide(_scored(0.9), _scored(0.9), "test_accuracy")[0]  # a tie
    assert not decide(_scored(0.903), _scored(0.9), "test_accuracy")[0]  # 3 rows: noise
    promoted, reason, _ = decide(_scored(0.8), _scored(0.9), "test_accuracy")
    assert not promoted and reason.startswith("worse beyond noise: keeps @champion")
    assert "challenger test accuracy 0.8000 (95 % CI" in reason


def test_worse_challenger_keeps_champion_and_better_one_takes_it() -> None:
    base = TrainConfig(dataset="digits", hidden_units="32", epochs=3, max_train_samples=800)
    dataset = load_dataset(base)
    weak = train_run(
        base.__class__(**{**base.as_params(), "learning_rate": 1e-5, "epochs": 1}),
        dataset=dataset,
        register=False,
        verbose=0,
    )
    strong = train_run(
        base.__class__(**{**base.as_params(), "learning_rate": 1e-2}),
        dataset=dataset,
        register=False,
        verbose=0,
    )
    assert strong.test_accuracy > weak.test_accuracy + 0.2
    calls: list[str] = []

    def scorer(uri: str) -> Scored:  # the real score, pulled from the registry; calls recorded
        calls.append(uri)
        return score_rows(Tracker(), uri, dataset, "test_accuracy")

    def challenge(result):  # type: ignore[no-untyped-def]
        return promote(
            Tracker(),
            NAME,
            run_id=result.run_id,
            model_uri=result.model_uri,
            tags={"optuna.trial_number": "0"},
            scorer=scorer,
        )

    first = challenge(weak)  # no champion yet
    assert first.promoted and first.champion_version is None
    assert first.challenger_value == pytest.approx(weak.test_accuracy, abs=1e-6)

    better = challenge(strong)
    assert better.promoted and better.champion_version == first.version
    assert f"models:/{NAME}@{ALIAS}" in calls  # the champion was scored fresh
    assert better.champion_value == pytest.approx(weak.test_accuracy, abs=1e-6)

    worse = challenge(weak)  # the weak run again: same version, not registered twice
    assert not worse.promoted and worse.version == first.version
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, ALIAS).version) == better.version
    assert len(client.search_model_versions(f"name = '{NAME}'")) == 2
    tag = client.get_model_version(NAME, worse.version).tags["promotion"]
    assert tag.startswith("kept: worse beyond noise: keeps @champion: challenger test accuracy")
    champion = mlflow.pyfunc.load_model(f"models:/{NAME}@{ALIAS}")
    assert champion.metadata.run_id == strong.run_id


def test_a_champion_that_cannot_be_scored_is_replaced_and_the_reason_says_so(
    tmp_path: Path,
) -> None:
    # The champion was trained on a 3-column CSV: it cannot score the 64-pixel digits test split.
    rows = "".join(f"{i % 7},{i % 5},{(i * 3) % 11},{i % 2}\n" for i in range(60))
    (tmp_path / "small.csv").write_text("a,b,c,quality\n" + rows)
    csv_config = TrainConfig(dataset="csv", data_path="small.csv", hidden_units="8", epochs=1)
    old = train_run(csv_config, register=False, verbose=0)
    tracker = Tracker()
    csv_data = load_dataset(csv_config)
    first = promote(
        tracker,
        NAME,
        run_id=old.run_id,
        model_uri=old.model_uri,
        tags={},
        scorer=lambda uri: score_rows(tracker, uri, csv_data, "test_accuracy"),
    )
    assert first.promoted
    base = TrainConfig(dataset="digits", hidden_units="8", epochs=1, max_train_samples=300)
    digits = load_dataset(base)
    other = train_run(base, dataset=digits, register=False, verbose=0)
    second = promote(
        tracker,
        NAME,
        run_id=other.run_id,
        model_uri=other.model_uri,
        tags={},
        scorer=lambda uri: score_rows(tracker, uri, digits, "test_accuracy"),
    )
    # It cannot be compared, so it does not block the challenger: promoted, and the reason says
    # the old champion was incomparable and why.
    assert second.promoted and second.champion_version == first.version
    assert second.reason.startswith(f"current @{ALIAS} (version {first.version}) is incomparable")
    said = (
        "(MlflowException: got 64 values per row (rows of shape (64,)); the model takes 3 columns"
    )
    assert f"{said} (a, b, c))" in second.reason
    version = mlflow.MlflowClient().get_model_version_by_alias(NAME, ALIAS).version
    assert str(version) == second.version
    tag = mlflow.MlflowClient().get_model_version(NAME, second.version).tags["promotion"]
    assert tag.startswith("promoted: current @champion") and "incomparable" in tag


def test_promote_best_is_the_one_path_for_a_study_s_best_trial() -> None:
    # What track_study (a notebook's study) and the sweep both call: the best complete trial's
    # model, found by its run-id user attr, registered, scored and recorded on the parent run.
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from tracking.config.tags import RUN_ID_ATTR
    from tracking.sweep.champion import promote_best

    base = TrainConfig(dataset="digits", hidden_units="8", epochs=1, max_train_samples=300)
    digits = load_dataset(base)
    fitted = train_run(base, dataset=digits, register=False, verbose=0)
    tracker = Tracker()
    parent = tracker.create_run("study-parent")
    study = optuna.create_study(study_name="nb")
    assert promote_best(tracker, study, NAME, digits, parent) is None  # no complete trial yet
    attrs = {RUN_ID_ATTR: fitted.run_id, "model_uri": fitted.model_uri}
    for number, (value, user_attrs) in enumerate([(0.5, attrs), (0.9, {})]):
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=value, params={"x": 0.1},
                                     distributions={"x": FloatDistribution(0, 1)},
                                     user_attrs=user_attrs))  # fmt: skip
        assert study.trials[number].number == number
    promotion = promote_best(tracker, study, NAME, digits, parent)
    assert promotion is not None and promotion.promoted
    client = mlflow.MlflowClient()
    version = client.get_model_version(NAME, promotion.version)
    assert version.run_id == fitted.run_id and version.tags["optuna.trial_number"] == "0"
    assert client.get_run(parent).data.tags["promotion.decision"] == "promoted"
