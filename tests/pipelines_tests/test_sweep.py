"""The sweep end to end: real Optuna SQLite storage, real MLflow SQLite store, digits data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from pipelines.sweep import main
from tests.helpers import all_runs
from tracking.config.errors import Terminated
from tracking.config.train import TrainConfig
from tracking.door.tracker import Tracker
from tracking.run.scoring import score_model_uri
from tracking.sweep.config import SweepConfig, named
from tracking.sweep.study import run_sweep

FAST = [
    "--dataset", "digits", "--hidden-units", "16", "--max-train-samples", "500",
    "--epochs-min", "2", "--epochs-max", "3", "--registered-model-name", "digits-mlp",
    "--cv-folds", "0",  # one split: cross-validated trials are in test_sweep_cv.py
]  # fmt: skip
BASE = TrainConfig(dataset="digits", hidden_units="16", max_train_samples=500,
                   registered_model_name="digits-mlp")  # fmt: skip
SPACE = {"epochs_min": 2, "epochs_max": 3, "refit": False, "cv_folds": "0"}  # refit, CV: elsewhere


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


class NeverPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return False


def _study(name: str = "digits-mlp-sweep") -> optuna.Study:
    return optuna.load_study(study_name=name, storage="sqlite:///optuna.db")


def _model_runs() -> set[str]:
    models = mlflow.search_logged_models(experiment_ids=["0"], output_format="list")
    return {m.source_run_id for m in models}


def _check_trials_match_runs(study: optuna.Study, parent: mlflow.entities.Run) -> None:
    client = mlflow.MlflowClient()
    children = {r.info.run_id: r for r in all_runs("trial")}
    assert len(children) == len(study.trials)
    with_model = _model_runs()
    for trial in study.trials:
        run = children[trial.user_attrs["mlflow_run_id"]]
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["optuna.study_name"] == study.study_name
        assert tags["optuna.trial_number"] == str(trial.number)
        assert tags["optuna.state"] == trial.state.name
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert trial.intermediate_values == {m.step: pytest.approx(m.value) for m in history}
        if trial.state == TrialState.PRUNED:
            assert tags["stop_reason"] == "pruned"
            assert tags["optuna.pruned_at_epoch"] == str(max(trial.intermediate_values) + 1)
            assert run.info.run_id not in with_model
            # A curve cut short is not diagnosed.
            assert "diagnosis" not in tags and "diagnosis" not in trial.user_attrs
        else:
            assert trial.state == TrialState.COMPLETE
            assert trial.value == pytest.approx(min(m.value for m in history))
            assert run.info.run_id in with_model
            # Every complete trial is diagnosed, in its run and in the study.
            assert tags["diagnosis"] == trial.user_attrs["diagnosis"]
            assert tags["mlflow.note.content"]


def test_sweep_nests_every_trial_under_one_parent_run(capsys: pytest.CaptureFixture) -> None:
    argv = [*FAST, "--n-trials", "4", "--prune-startup-trials", "1", "--prune-warmup-epochs", "0"]
    assert main(argv) == 0
    study = _study()
    [parent] = all_runs("parent")
    assert parent.info.status == "FINISHED"
    _check_trials_match_runs(study, parent)
    counts = {s: sum(t.state.name == s for t in study.trials) for s in ("COMPLETE", "PRUNED")}
    assert parent.data.metrics["n_trials_complete"] == counts["COMPLETE"]
    assert parent.data.metrics["n_trials_pruned"] == counts["PRUNED"]
    # The parent counts the diagnoses of its trials, one metric per label (zeros included).
    labels = ("still_improving", "converged", "overfitting", "underfitting", "diverged")
    diagnoses = [t.user_attrs.get("diagnosis") for t in study.trials]
    for label in labels:
        assert parent.data.metrics[f"n_diagnosis_{label}"] == diagnoses.count(label)
    n_diagnosed = sum(parent.data.metrics[f"n_diagnosis_{label}"] for label in labels)
    assert n_diagnosed == counts["COMPLETE"]
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.tags["best_run_id"] == study.best_trial.user_attrs["mlflow_run_id"]
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id
    artifacts = {
        a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id, "summary")
    }
    expected = {
        "trials.csv",
        "trial_curves.png",
        "optimization_history.png",
        "intermediate_values.png",
    }
    assert {f"summary/{name}" for name in expected} <= artifacts
    out = capsys.readouterr()
    assert "study digits-mlp-sweep:" in out.out and "@champion" in out.out


def test_always_pruned_trials_end_cleanly_without_a_model() -> None:
    result = run_sweep(BASE, SweepConfig(n_trials=2, **SPACE), pruner=AlwaysPrune(),
                       show_progress_bar=False, tracker=Tracker())  # fmt: skip
    study = _study()
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 2
    assert all(t.user_attrs["pruned_at_epoch"] == 1 for t in study.trials)
    _check_trials_match_runs(study, mlflow.get_run(result.parent_run_id))
    assert result.promotion is None and result.best_number is None
    assert mlflow.get_run(result.parent_run_id).info.status == "FINISHED"


def test_resume_continues_to_n_trials_in_total_under_the_same_parent() -> None:
    # The first invocation stops after its first trial (the timeout is checked between trials).
    first = run_sweep(BASE, SweepConfig(n_trials=4, timeout=0.01, **SPACE), pruner=NeverPrune(),
                      show_progress_bar=False, tracker=Tracker())  # fmt: skip
    assert len(_study().trials) == 1
    second = run_sweep(BASE, SweepConfig(n_trials=4, **SPACE), pruner=NeverPrune(),
                       show_progress_bar=False, tracker=Tracker())  # fmt: skip
    study = _study()
    assert len(study.trials) == 4 and second.parent_run_id == first.parent_run_id
    [parent] = all_runs("parent")
    _check_trials_match_runs(study, parent)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({tuple(t.params.items()) for t in study.trials}) == 4  # resume replays nothing
    assert parent.data.metrics["n_trials"] == 4
    # the champion is the best trial's model, and it scores what its run says
    best_run = mlflow.get_run(study.best_trial.user_attrs["mlflow_run_id"])
    champion = mlflow.pyfunc.load_model("models:/digits-mlp@champion")
    assert champion.metadata.run_id == best_run.info.run_id
    from tracking.data.datasets import load_dataset

    score = score_model_uri("models:/digits-mlp@champion", load_dataset(BASE))
    assert score.metrics["test_accuracy"] == pytest.approx(
        best_run.data.metrics["test_accuracy"], abs=1e-6
    )
    # a third invocation with the same cap runs nothing and keeps the single parent
    run_sweep(BASE, SweepConfig(n_trials=4, **SPACE), show_progress_bar=False, tracker=Tracker())
    assert len(_study().trials) == 4 and len(all_runs("parent")) == 1


class Raise(optuna.pruners.BasePruner):
    """Raises ``error`` the first time it is asked (inside Keras's fit, like a real failure)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        raise self.error


def test_a_failing_trial_is_fail_in_optuna_and_failed_in_mlflow_and_the_sweep_goes_on() -> None:
    result = run_sweep(BASE, SweepConfig(n_trials=2, **SPACE), pruner=Raise(RuntimeError("boom")),
                       show_progress_bar=False, tracker=Tracker())  # fmt: skip
    assert result.counts["FAIL"] == 2 and result.promotion is None
    for trial in _study().trials:
        run = mlflow.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FAILED" and run.data.tags["optuna.state"] == "FAIL"
        assert "boom" in run.data.tags["error"]
    assert mlflow.get_run(result.parent_run_id).info.status == "FINISHED"


@pytest.mark.parametrize("signal", [KeyboardInterrupt(), Terminated("SIGTERM")])
def test_an_interrupted_sweep_ends_its_runs_killed_and_resumes(signal: BaseException) -> None:
    # Terminated is what pipelines.sweep's SIGTERM handler raises in the main thread.
    with pytest.raises(KeyboardInterrupt):
        run_sweep(BASE, SweepConfig(n_trials=2, **SPACE), pruner=Raise(signal),
                  show_progress_bar=False, tracker=Tracker())  # fmt: skip
    [parent] = all_runs("parent")
    [child] = all_runs("trial")
    assert parent.info.status == "KILLED" and child.info.status == "KILLED"
    assert child.data.tags["optuna.state"] == "FAIL"
    result = run_sweep(BASE, SweepConfig(n_trials=2, **SPACE), pruner=NeverPrune(),
                       show_progress_bar=False, tracker=Tracker())  # fmt: skip
    assert result.parent_run_id == parent.info.run_id
    assert mlflow.get_run(result.parent_run_id).info.status == "FINISHED"
    # The interrupted trial was queued again with its params, and n_trials counts finished ones.
    trials = _study().trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].system_attrs["failed_trial"] == 0 and trials[1].params == trials[0].params


BAD = [
    (["--n-trials", "0"], "n_trials"),
    (["--epochs-min", "9", "--epochs-max", "3"], "epochs_min"),
    (["--learning-rate-min", "0.1", "--learning-rate-max", "0.001"], "learning_rate_min"),
    (["--pruner", "sha"], "pruner"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/x"], "storage"),
    (["--storage", "sqlite:////nonexistent-dir/optuna.db"], "storage"),
    (["--learning-rate", "0"], "learning_rate"),
    (["--monitor", "val_acc"], "monitor"),
]


@pytest.mark.parametrize(("argv", "parameter"), BAD)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
    argv: list[str], parameter: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    before = sorted(os.listdir(tmp_path))  # the fixture's empty tracking store
    assert main([*FAST, *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {parameter}=")
    assert sorted(os.listdir(tmp_path)) == before  # no optuna.db, no artifacts
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_resuming_with_another_monitor_is_refused(capsys: pytest.CaptureFixture) -> None:
    optuna.create_study(study_name="s", storage="sqlite:///optuna.db").set_user_attr(
        "monitor", "val_loss"
    )
    started = time.monotonic()
    assert main([*FAST, "--study-name", "s", "--monitor", "val_accuracy"]) == 2
    assert time.monotonic() - started < 60  # at once: not after waiting for a parent run
    assert capsys.readouterr().err.startswith("error: monitor='val_accuracy' differs")
    assert len(_study("s").trials) == 0


@pytest.mark.parametrize(
    ("attrs", "line"),
    [
        ({"data": "mnist"}, "error: dataset='digits' differs from the data of existing study 's'"),
        ({"data": "csv:/elsewhere/wine.csv"}, "error: dataset='digits' differs from the data"),
        ({"model": "examples/cnn.py:build"}, "error: model='tracking.model:mlp' differs from"),
        ({"cv_folds": "5"}, "error: cv_folds='0' differs from the folds of existing study 's'"),
    ],
)  # fmt: skip
def test_resuming_with_other_data_another_model_or_other_folds_is_refused(
    attrs: dict[str, str], line: str, capsys: pytest.CaptureFixture
) -> None:
    study = optuna.create_study(study_name="s", storage="sqlite:///optuna.db")
    for key, value in {"monitor": "val_loss", **attrs}.items():
        study.set_user_attr(key, value)
    assert main([*FAST, "--study-name", "s"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and "-P study_name" in err, err
    assert len(_study("s").trials) == 0
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


def test_study_name_auto_names_the_study_after_the_data_and_the_model(repo: Path) -> None:
    assert named(SweepConfig(), TrainConfig()).study_name == "mnist-mlp-sweep"
    cnn = TrainConfig(dataset="digits", model=f"{repo / 'examples' / 'cnn.py'}:build")
    assert named(SweepConfig(), cnn).study_name == "digits-cnn-sweep"
    wine = TrainConfig(dataset="csv", data_path="data/winequality-red.csv")
    assert named(SweepConfig(), wine).study_name == "winequality-red-mlp-sweep"
    assert named(SweepConfig(study_name="mine"), cnn).study_name == "mine"


def test_bad_input_is_refused_before_tensorflow_is_imported(repo: Path) -> None:
    code = (
        "import sys; from pipelines.sweep import main;"
        "rc = main(['--storage', 'postgresql://nobody@127.0.0.1:1/x']);"
        "sys.exit(rc + 10 * ('tensorflow' in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": f"{repo / 'src'}{os.pathsep}{repo}"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
