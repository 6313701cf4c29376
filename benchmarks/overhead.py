"""Tracking overhead: bare Keras, ``train()`` logging everything, and ``mlflow.tensorflow.autolog``.

Three variants on the same data, seed, model (``tracking.model.build.build_model``) and epochs, no
early stopping (patience = epochs), run alternately (a, b, c, a, b, c, ...) in one process after
an unmeasured warm-up of each, every tracked repetition into a fresh SQLite store:

- (a) bare: ``model.fit`` + ``model.evaluate`` on the test split;
- (b) tracked: ``tracking.run.training.train()`` in a run of ``Tracker`` (per-epoch metrics, curves,
  diagnosis, test score and confusion matrix, logged model, dataset inputs, registry version,
  device params, and MLflow's system metrics sampled every 10 s: the defaults);
- (b') mirrored: (b) with its per-epoch backup mirrored to the run's artifacts
  (``checkpoint_every=epoch``, what ``mlflow run .`` does; (b) has the backup, not the mirror);
- (c) autolog: ``mlflow.tensorflow.autolog()`` around the same bare fit + evaluate.

Reports the median end-to-end seconds of each, (b)/(a) and (c)/(a), the fixed cost in seconds
(before ``fit`` starts and after it returns, each variant), the ratio at the length of a default
run (``TrainConfig().epochs`` epochs at the measured seconds per epoch, with the measured fixed
costs), and where (b)'s time after ``fit`` goes: timers around the steps of
``tracking/run/finishing.py`` ``finish`` on every tracked repetition, and a cProfile of ``finish``
on one extra, unmeasured repetition. Then the fixed cost of a sweep trial: ``--trials`` trials of
``tracking.sweep.objective.Objective`` in one process on digits, each one epoch and pruned after
it, the seconds of each trial outside its ``fit`` (the first trial of a process separately).

    .venv/bin/python benchmarks/overhead.py [--repeats 5] [--epochs 10] [--dataset digits]

Writes ``benchmarks/results/overhead.json``. Not run by CI (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import functools
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import add_data_flags, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import mlflow  # noqa: E402
import mlflow.tensorflow  # noqa: E402
import optuna  # noqa: E402

from tracking.config.tags import RUN_ID_ATTR  # noqa: E402
from tracking.config.train import TrainConfig  # noqa: E402
from tracking.data.datasets import Dataset, load_dataset  # noqa: E402
from tracking.door.tracker import Tracker  # noqa: E402
from tracking.model.build import build_model  # noqa: E402
from tracking.report import artifacts  # noqa: E402
from tracking.run import (
    finishing,  # noqa: E402
    registry,  # noqa: E402
    training,  # noqa: E402
)
from tracking.sweep.config import SweepConfig  # noqa: E402
from tracking.sweep.objective import Objective  # noqa: E402

VARIANTS = ("bare", "tracked", "mirrored", "autolog")
# The steps of (b) timed on every repetition: (label, owner, attribute). Nested steps
# (log_confusion inside score_test, log_model inside finish) are reported as they are. The
# figures are drawn in another process (tracking/report/drawing.py): log_curves and
# log_confusion only hand them over; Figures.log waits for what is left of them and logs them.
STEPS = (
    ("create_run", Tracker, "create_run"),
    ("system_metrics_start", Tracker, "log_system_metrics"),
    ("log_params", Tracker, "log_params"),
    ("dataset_inputs", Tracker, "log_dataset_inputs"),
    ("model_summary_txt", Tracker, "log_text"),
    ("end_run", Tracker, "end_run"),
    ("finish_total", finishing, "finish"),
    ("curves_and_history_csv", finishing, "log_curves"),
    ("diagnosis", artifacts, "log_diagnosis"),
    ("score_test_total", finishing, "score_test"),
    ("confusion_plot_and_json", artifacts, "log_confusion"),
    ("figures_wait_and_log", artifacts.Figures, "log"),
    ("log_model", Tracker, "log_model"),
    ("register_and_model_card", registry, "register"),
)
# Functions whose cumulative time the cProfile of finish reports (substring of "file:function").
PROFILED = (
    "finishing.py:log_curves",
    "artifacts.py:log_diagnosis",
    "finishing.py:score_test",
    "model/build.py:predict_rows",
    "trainer.py:evaluate",
    "trainer.py:predict",
    "artifacts.py:log_confusion",
    "report/artifacts.py:log",
    "door/artifacts.py:log_figure",
    "door/models.py:log_model",
    "tensorflow/__init__.py:save_model",
    "model.py:_save_example",
    "utils.py:_validate_and_get_model_code_path",
    "compat.py:check_serving_input_in_memory",
    "compat.py:check_serving_input",
    "validation.py:_validate_prediction_input",
    "model.py:load_input_example",
    "keras_rows.py:_load_pyfunc",
    "pyfunc/__init__.py:predict",
    "artifact_repo.py:log_artifacts",
    "registry.py:register",
    "registry.py:describe",
    "fluent.py:register_model",
    "tracker.py:model_facts",
)


class FitWindow:
    """When the last ``keras.Model.fit`` started and returned (every variant fits through it;
    autolog's patch wraps this one, so its own work counts outside ``fit``, as ours does)."""

    started = ended = 0.0

    @classmethod
    def install(cls) -> None:
        fit = keras.Model.fit

        @functools.wraps(fit)
        def timed_fit(*args: Any, **kwargs: Any) -> Any:
            cls.started = time.perf_counter()
            try:
                return fit(*args, **kwargs)
            finally:
                cls.ended = time.perf_counter()

        keras.Model.fit = timed_fit  # type: ignore[method-assign]


class Timers:
    """Seconds spent in chosen functions, one list per label (a value per call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def installed(self) -> Iterator[None]:
        originals = [(owner, name, getattr(owner, name)) for _, owner, name in STEPS]
        for label, owner, name in STEPS:
            setattr(owner, name, self._timed(label, getattr(owner, name)))
        try:
            yield
        finally:
            for owner, name, original in originals:
                setattr(owner, name, original)

    def _timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label].append(time.perf_counter() - started)

        return timed


def bare(config: TrainConfig, dataset: Dataset) -> dict[str, float]:
    """(a), and the fit of (c): the model ``train()`` builds, fitted and scored, nothing logged."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, dataset.n_features, dataset.n_classes, dataset.scaling)
    started = time.perf_counter()
    model.fit(
        dataset.x_train,
        dataset.y_train,
        validation_data=(dataset.x_val, dataset.y_val),
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,
        verbose=0,
    )
    fit_seconds = time.perf_counter() - started
    scores = model.evaluate(dataset.x_test, dataset.y_test, batch_size=1024, verbose=0)
    return {"fit_seconds": fit_seconds, "test_accuracy": float(scores[1])}


def tracked(config: TrainConfig, dataset: Dataset, mirror: bool) -> dict[str, float]:
    """(b), (b'): ``train()`` into a fresh SQLite store, its run created and ended and its epochs
    backed up as the CLI does (``pipelines/train.py``); the backup mirrored to the run's
    artifacts every epoch with ``mirror``, not at all without."""
    config = dataclasses.replace(config, checkpoint_every="epoch" if mirror else "off")
    tracker = Tracker()
    run_id = tracker.create_run(training.default_run_name(config))
    backup = Path.cwd() / ".backups" / run_id
    with tracker.ending(run_id):
        result = training.train(
            config, tracker=tracker, run_id=run_id, dataset=dataset, verbose=0, backup=backup
        )
    fit_seconds = tracker.get_run(run_id).metrics["fit_seconds"]
    return {"fit_seconds": fit_seconds, "test_accuracy": float(result.test_accuracy or 0.0)}


def autolog(config: TrainConfig, dataset: Dataset) -> dict[str, float]:
    """(c): MLflow's autologging (metrics, params, model at the end of fit) around (a)."""
    mlflow.tensorflow.autolog(silent=True)
    try:
        with mlflow.start_run():
            return bare(config, dataset)
    finally:
        mlflow.tensorflow.autolog(disable=True)


def run_variant(name: str, config: TrainConfig, dataset: Dataset) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-overhead-{name}-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # artifacts (./mlruns) land in the fresh directory too
        try:
            if name != "bare":  # a fresh store, created before the clock starts (a user has one)
                uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
                os.environ["MLFLOW_TRACKING_URI"] = uri  # before the Tracker: its client reads it
                mlflow.set_tracking_uri(uri)  # registry and autolog resolve it through mlflow
                mlflow.MlflowClient(uri).search_experiments()
            started = time.perf_counter()
            if name == "bare":
                out = bare(config, dataset)
            elif name in ("tracked", "mirrored"):
                out = tracked(config, dataset, mirror=name == "mirrored")
            else:
                out = autolog(config, dataset)
            ended = time.perf_counter()
            return {
                "seconds": ended - started,
                "before_fit_seconds": FitWindow.started - started,
                "after_fit_seconds": ended - FitWindow.ended,
                **out,
            }
        finally:
            os.chdir(cwd)


def profile_finish(config: TrainConfig, dataset: Dataset, top: int) -> dict[str, Any]:
    """One extra tracked run with cProfile enabled inside ``finishing.finish`` only."""
    profiler = cProfile.Profile()
    original = finishing.finish

    def profiled(*args: Any, **kwargs: Any) -> Any:
        profiler.enable()
        try:
            return original(*args, **kwargs)
        finally:
            profiler.disable()

    finishing.finish = profiled  # type: ignore[assignment]
    try:
        run_variant("tracked", config, dataset)
    finally:
        finishing.finish = original  # type: ignore[assignment]
    stats = pstats.Stats(profiler)
    rows = {
        f"{Path(file).parent.name}/{Path(file).name}:{line}:{function}": (calls, cumulative)
        for (file, line, function), (_, calls, _, cumulative, _) in stats.stats.items()  # type: ignore[attr-defined]
    }
    chosen: dict[str, dict[str, float]] = {}
    for wanted in PROFILED:
        file_part, function_part = wanted.rsplit(":", 1)
        for key, (calls, cumulative) in rows.items():
            path, _, function = key.rsplit(":", 2)
            if path.endswith(file_part) and function == function_part:
                chosen[key] = {"calls": calls, "cumulative_seconds": round(cumulative, 3)}
    heaviest = sorted(rows.items(), key=lambda item: -item[1][1])[:top]
    return {
        "total_seconds": round(max(c for _, c in rows.values()), 3),
        "chosen": chosen,
        "top_cumulative": {k: round(c, 3) for k, (_, c) in heaviest},
    }


def sweep_trials(n_trials: int) -> dict[str, Any]:
    """``n_trials`` trials of the sweep's objective in this process on digits, each pruned after
    its first epoch of 5 (Optuna's ThresholdPruner: any val_loss is above 0; the last epoch is
    never pruned); the seconds of each outside its fit (the trial's duration in Optuna less its
    run's ``fit_seconds``)."""
    base = TrainConfig(dataset="digits", epochs=5, patience=5)
    sweep = SweepConfig(n_trials=n_trials, epochs_min=5, epochs_max=5)  # backups in tmp
    dataset = load_dataset(base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-sweep-") as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
            os.environ["MLFLOW_TRACKING_URI"] = uri
            mlflow.set_tracking_uri(uri)
            tracker = Tracker()
            parent = tracker.create_run("bench-sweep")
            objective = Objective(base, sweep, dataset, tracker=tracker, parent_run_id=parent)
            study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
            study.optimize(objective, n_trials=n_trials)
            outside = []
            for trial in study.trials:
                run_id = trial.user_attrs[RUN_ID_ATTR]
                fit = tracker.get_run(run_id).metrics["fit_seconds"]
                assert trial.duration is not None and trial.state.name == "PRUNED", trial.state
                outside.append(trial.duration.total_seconds() - fit)
            tracker.end_run(parent, "FINISHED")
        finally:
            os.chdir(cwd)
    later = outside[1:] or outside
    return {
        "trials": n_trials,
        "dataset": "digits",
        "seconds_outside_fit": outside,
        "first_trial_seconds_outside_fit": outside[0],
        "median_seconds_outside_fit": statistics.median(later),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=10)
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds of a, b, c")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up (smoke test)")
    parser.add_argument("--trials", type=int, default=6, help="pruned one-epoch sweep trials")
    args = parser.parse_args()
    config = TrainConfig(
        dataset=args.dataset,
        max_train_samples=args.max_train_samples,
        epochs=args.epochs,
        patience=args.epochs,  # no early stopping: every variant trains every epoch
        batch_size=args.batch_size,
        seed=args.seed,
    )
    dataset = load_dataset(config)
    FitWindow.install()
    load_at_start = os.getloadavg()[0]  # other work on the machine, which slows every variant
    for name in (
        () if args.no_warmup else VARIANTS
    ):  # warm-up: imports, graph tracing, the SQLite schema; not measured
        run_variant(name, TrainConfig(**{**config.__dict__, "epochs": 1, "patience": 1}), dataset)

    timers = Timers()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for round_ in range(args.repeats):
        for name in VARIANTS:
            if name == "tracked":
                with timers.installed():
                    out = run_variant(name, config, dataset)
            else:
                out = run_variant(name, config, dataset)
            runs[name].append(out)
            print(
                f"round {round_ + 1}/{args.repeats} {name}: {out['seconds']:.1f} s "
                f"(fit {out['fit_seconds']:.1f} s, test accuracy {out['test_accuracy']:.4f})",
                flush=True,
            )

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    medians = {name: median(name, "seconds") for name in VARIANTS}
    per_round = [
        {f"{n}_over_bare": runs[n][i]["seconds"] / runs["bare"][i]["seconds"] for n in VARIANTS[1:]}
        for i in range(args.repeats)
    ]
    after_fit = {
        name: statistics.median(r["seconds"] - r["fit_seconds"] for r in runs[name])
        for name in VARIANTS
    }
    fixed = {
        name: {
            "before_fit": median(name, "before_fit_seconds"),
            "after_fit": median(name, "after_fit_seconds"),
        }
        for name in VARIANTS
    }
    # The default run's length: TrainConfig().epochs at the measured seconds per epoch (bare's
    # median fit), each variant's fixed costs added: the ratio a default run would show.
    default_epochs = TrainConfig().epochs
    per_epoch = median("bare", "fit_seconds") / args.epochs
    default_fit = per_epoch * default_epochs

    def at_default(name: str) -> float:
        return default_fit + fixed[name]["before_fit"] + fixed[name]["after_fit"]

    steps = {label: statistics.median(values) for label, values in timers.seconds.items()}
    # score_test predicts the test split once and hands its plot to the drawing process
    # (tracking/run/finishing.py), so its own time is the prediction and the scoring.
    steps["evaluate_and_predict"] = steps["score_test_total"]
    print("profiling one more tracked run (cProfile inside finish) ...", flush=True)
    profile = profile_finish(config, dataset, args.profile_top)
    print(f"sweep: {args.trials} pruned one-epoch trials on digits ...", flush=True)
    sweep = sweep_trials(args.trials)

    ratio_b = medians["tracked"] / medians["bare"]
    mirror_cost = medians["mirrored"] / medians["tracked"]
    ratio_c = medians["autolog"] / medians["bare"]
    # The epochs cost the same in every variant; under load their time swamps the rest. The
    # time outside fit does not depend on the load as much: added to the fastest bare fit seen,
    # it gives the ratio a quieter machine would show (lower bound of the fit: slower fits
    # only make the ratio smaller).
    fastest_fit = min(r["fit_seconds"] for r in runs["bare"])
    extra = after_fit["tracked"] - after_fit["bare"]
    ratio_b_fastest = (fastest_fit + after_fit["tracked"]) / (fastest_fit + after_fit["bare"])
    bound = 1.10
    result = {
        "epochs": args.epochs,
        "system_metrics_interval": config.system_metrics_interval if config.system_metrics else 0,
        "load_average": {"start": load_at_start, "end": os.getloadavg()[0]},
        "repeats": args.repeats,
        "median_seconds": medians,
        "median_fit_seconds": {name: median(name, "fit_seconds") for name in VARIANTS},
        "median_seconds_after_fit": after_fit,
        "median_fixed_seconds": fixed,
        "default_run": {
            "epochs": default_epochs,
            "seconds_per_epoch": per_epoch,
            "tracked_over_bare": at_default("tracked") / at_default("bare"),
            "mirrored_over_bare": at_default("mirrored") / at_default("bare"),
            "autolog_over_bare": at_default("autolog") / at_default("bare"),
        },
        "sweep_trial": sweep,
        "tracked_over_bare": ratio_b,
        "autolog_over_bare": ratio_c,
        "mirrored_over_tracked": mirror_cost,
        "per_round_ratios": per_round,
        "tracked_extra_seconds_outside_fit": extra,
        "fastest_bare_fit_seconds": fastest_fit,
        "tracked_over_bare_at_fastest_fit": ratio_b_fastest,
        "test_accuracy": {name: median(name, "test_accuracy") for name in VARIANTS},
        "tracked_steps_median_seconds": steps,
        "finish_profile": profile,
        "targets": {
            "after_fit_seconds_at_most": 1.5,
            "after_fit_seconds_met": fixed["tracked"]["after_fit"] <= 1.5,
            "sweep_trial_seconds_outside_fit_at_most": 1.0,
            "sweep_trial_met": sweep["median_seconds_outside_fit"] <= 1.0,
            "tracked_over_bare_at_most": bound,
            "tracked_over_bare_met": ratio_b <= bound and ratio_b_fastest <= bound,
            "tracked_faster_than_autolog_met": medians["tracked"] < medians["autolog"],
            "mirrored_over_tracked_at_most": 1.05,
            "mirrored_over_tracked_met": mirror_cost <= 1.05,
        },
        "runs": runs,
    }
    print(
        f"median s: bare {medians['bare']:.1f}, tracked {medians['tracked']:.1f}, mirrored "
        f"{medians['mirrored']:.1f}, autolog {medians['autolog']:.1f}; tracked/bare "
        f"{ratio_b:.2f}x, mirrored/tracked {mirror_cost:.3f}x, autolog/bare {ratio_c:.2f}x",
        flush=True,
    )
    print(
        "fixed cost (median s, before + after fit): "
        + ", ".join(f"{n} {f['before_fit']:.2f} + {f['after_fit']:.2f}" for n, f in fixed.items())
        + f"; at the default run's length ({default_epochs} epochs): tracked/bare "
        f"{at_default('tracked') / at_default('bare'):.2f}x"
    )
    print("tracked, after fit (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    print(
        f"sweep trial outside fit: first {sweep['first_trial_seconds_outside_fit']:.2f} s, then "
        f"median {sweep['median_seconds_outside_fit']:.2f} s"
    )
    write_result("overhead", args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
