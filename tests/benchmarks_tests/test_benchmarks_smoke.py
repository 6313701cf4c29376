"""Every benchmark in ``benchmarks/`` runs on tiny settings (digits, 1 epoch, 2 trials) into a
temporary directory, writes its JSON with the keys ``report.py`` reads, and the report renders a
table row from each. Real Keras, real SQLite stores; the figures are not checked, only their
sanity. The benchmarks themselves (full MNIST, minutes to half an hour) are ``make bench``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracking.config.train import TrainConfig
from tracking.sweep.config import SweepConfig

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
TINY = ["--dataset", "digits", "--max-train-samples", "400", "--epochs", "1"]


def bench(script: str, out: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *TINY, "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=900,  # a guard against a hang, not a speed target: a loaded machine is slow
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    assert result["note"] and result["cpus"] and result["settings"]["dataset"] == "digits"
    return result


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All the benchmarks, once, into one directory (hyperband reads sweep_quality's epochs)."""
    out = tmp_path_factory.mktemp("bench-results")
    bench("overhead.py", out / "overhead.json", "--repeats", "1", "--no-warmup", "--trials", "2")
    bench("pruning.py", out / "pruning.json", "--trials", "2")
    bench("champion.py", out / "champion.json", "--trials", "2", "--timeout-minutes", "5")
    bench("sweep_quality.py", out / "sweep_quality.json", "--trials", "2", "--seeds", "0")
    try:
        import keras_tuner  # noqa: F401
    except ImportError:
        pass
    else:
        sweeps = str(out / "sweep_quality.json")
        bench("hyperband.py", out / "hyperband.json", "--sweep-result", sweeps, "--seeds", "0")
    bench("cnn.py", out / "cnn.json", "--filters", "4", "--sweep-trials", "2")
    return out


def load(results: Path, name: str) -> dict[str, Any]:
    return json.loads((results / f"{name}.json").read_text())


def test_overhead_times_four_variants_and_profiles_the_finish(results: Path) -> None:
    r = load(results, "overhead")
    assert set(r["median_seconds"]) == {"bare", "tracked", "mirrored", "autolog"}
    assert r["mirrored_over_tracked"] == pytest.approx(
        r["median_seconds"]["mirrored"] / r["median_seconds"]["tracked"]
    )
    for name, seconds in r["median_seconds"].items():
        assert 0 < r["median_fit_seconds"][name] < seconds, name
    assert r["tracked_over_bare"] == pytest.approx(
        r["median_seconds"]["tracked"] / r["median_seconds"]["bare"]
    )
    assert len(r["runs"]["tracked"]) == r["repeats"] == 1
    steps = r["tracked_steps_median_seconds"]
    for step in ("curves_and_history_csv", "evaluate_and_predict", "log_model", "finish_total"):
        assert 0 < steps[step] <= steps["finish_total"], step
    assert steps["register_and_model_card"] > 0  # train() registered a version
    assert any("log_model" in k for k in r["finish_profile"]["chosen"])
    assert 0.1 < r["test_accuracy"]["tracked"] <= 1  # above chance after one epoch
    # the fixed cost in seconds, before and after fit, beside the ratio
    for name, fixed in r["median_fixed_seconds"].items():
        assert 0 < fixed["before_fit"] and 0 < fixed["after_fit"], name
        assert fixed["before_fit"] + fixed["after_fit"] < r["runs"][name][0]["seconds"], name
    assert r["default_run"]["epochs"] == TrainConfig().epochs
    assert r["default_run"]["tracked_over_bare"] > 0
    # a sweep trial's seconds outside its fit: every trial pruned after its first epoch
    trial = r["sweep_trial"]
    assert trial["trials"] == len(trial["seconds_outside_fit"]) == 2
    assert all(seconds > 0 for seconds in trial["seconds_outside_fit"])


def test_pruning_counts_the_epochs_of_both_studies(results: Path) -> None:
    r = load(results, "pruning")
    for variant in ("pruned", "unpruned"):
        study = r[variant]
        assert study["n_trials"] == 2
        assert study["epochs_trained"] == sum(t["epochs_trained"] for t in study["trials"]) > 0
        assert all(t["epochs_trained"] == t["intermediate_values"] for t in study["trials"])
        assert 0 < study["champion"]["test_accuracy"] <= 1
    assert r["epochs_ratio"] == r["pruned"]["epochs_trained"] / r["unpruned"]["epochs_trained"]
    assert set(r["targets"]) >= {"epochs_met", "val_accuracy_met"}
    # The default pruner against none, both studies on the metric the target is stated in.
    assert r["pruner"] == SweepConfig().pruner and r["settings"]["monitor"] == "val_accuracy"
    # ... as each study's parent run recorded it.
    assert (r["pruned"]["pruner"], r["unpruned"]["pruner"]) == (SweepConfig().pruner, "none")
    assert "--monitor" in r["sweep_flags"]


def test_hyperband_searches_the_sweeps_space_at_the_sweeps_epochs(results: Path) -> None:
    pytest.importorskip("keras_tuner", reason="keras-tuner (the bench extra) is not installed")
    r = load(results, "hyperband")
    sweep = load(results, "sweep_quality")["seeds"]["0"]["sweep"]
    (entry,) = r["seeds"].values()
    h, ours = entry["hyperband"], entry["ours"]
    # Every epoch the default sweep trained: its trials, their other folds (digits is
    # cross-validated) and the refit; Hyperband stops at exactly that many.
    assert sweep["fold_epochs_trained"] > 0
    budget = sweep["epochs_trained"] + sweep["fold_epochs_trained"] + sweep["refit_epochs"]
    assert ours["budget_epochs"] == budget == h["epochs_trained"]
    assert ours["champion_test_accuracy"] == sweep["champion_test_accuracy"]
    assert r["monitor"] == sweep["monitor"] == TrainConfig().monitor  # what KerasTuner optimises
    assert 0 < h["best_model_test_accuracy"] <= 1 and 0 < h["refit_test_accuracy"] <= 1
    assert h["refit_epochs"] == h["best_step"] + 1
    # The sweep's default space, the learning rate in the range of the optimizer drawn.
    hp = h["best_hyperparameters"]
    space = {"optimizer", "dropout", "l2", "batch_size", "reduce_lr_patience", "batch_norm"}
    assert set(hp) >= space | {"hidden_layers", "hidden_width"}
    rate = "sgd_learning_rate" if hp["optimizer"] == "sgd" else "learning_rate"
    assert rate in hp and ({"learning_rate", "sgd_learning_rate"} - {rate}).isdisjoint(hp)
    s = SweepConfig()
    assert s.hidden_width_min <= hp["hidden_width"] <= s.hidden_width_max
    assert entry["ours_ahead"] == (ours["champion_test_accuracy"] >= h["best_model_test_accuracy"])
    assert r["targets"]["ours_at_least_as_good"] == entry["ours_ahead"]


def test_champion_reports_trials_minutes_and_test_accuracy(results: Path) -> None:
    r = load(results, "champion")
    assert r["n_trials"] == 2 and 0 < r["minutes"] < 5
    assert 0 < r["champion_test_accuracy"] <= 1
    assert r["targets"]["met"] == (r["champion_test_accuracy"] >= 0.985)
    assert r["pruner"] == SweepConfig().pruner  # the default sweep


def test_sweep_quality_compares_the_default_sweep_with_a_single_run_beside_it(
    results: Path,
) -> None:
    r = load(results, "sweep_quality")
    (entry,) = r["seeds"].values()
    single, sweep, none = entry["single"], entry["sweep"], entry["pruner_none"]
    assert single["seconds"] > 0 and 0 < single["test_accuracy"] <= 1
    assert sweep["seconds_over_single"] == pytest.approx(sweep["seconds"] / single["seconds"])
    assert sum(sweep["states"].values()) == 2 and sweep["complete_trials"] == 2  # no pruning yet
    assert sweep["trials"][0]["params"]["batch_size"] == 128  # trial 0: the base configuration
    assert 0 < sweep["champion_test_accuracy"] <= 1
    # digits is small data: trials are cross-validated and the winner refit on every row
    assert 0 < sweep["refit_test_accuracy"] <= 1 and sweep["refit_epochs"] > 0
    assert none["epochs_share"] == sweep["epochs_trained"] / none["epochs_trained"]
    assert sweep["champion_is_searched"] == (sweep["best_trial"] != 0)
    assert r["medians"]["searched_champion_seeds"] == int(sweep["champion_is_searched"])
    assert r["medians"]["n_seeds"] == 1
    assert set(r["met"]) >= {"accuracy_met", "champion_met", "searched_met", "epochs_met"}
    # small data: the champion against the single run in every seed, its cv score and spread
    every = r["met"]["champion_at_least_single_every_seed"]
    assert every == (sweep["champion_test_accuracy"] >= single["test_accuracy"])
    best = sweep["trials"][sweep["best_trial"]]
    assert sweep["champion_is_refit"] and sweep["champion_cv_folds"] == 3
    assert (
        sweep["champion_cv_mean"] == best["cv_mean"] and sweep["champion_cv_std"] == best["cv_std"]
    )
    assert sweep["best_trial_cv_values"] == best["cv_values"] and sweep["monitor"] == "val_loss"


def test_sweep_quality_takes_pruner_none_from_an_earlier_result_with_the_same_flags(
    results: Path, tmp_path: Path
) -> None:
    earlier = results / "sweep_quality.json"
    r = json.loads(earlier.read_text())
    for entry in r["seeds"].values():  # a later invocation that ran no pruner=none
        del entry["pruner_none"]
        entry["sweep"]["epochs_trained"] += 1
    later = tmp_path / "later.json"
    later.write_text(json.dumps(r))

    def merge(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(BENCH / "sweep_quality.py"), "--merge", str(later), *args]
        return subprocess.run(command, capture_output=True, text=True)

    done = merge("--none-from", str(earlier), "--out", str(tmp_path / "merged.json"))
    assert done.returncode == 0, done.stderr
    merged = json.loads((tmp_path / "merged.json").read_text())
    (entry,) = merged["seeds"].values()
    none = entry["pruner_none"]
    assert none["epochs_share"] == entry["sweep"]["epochs_trained"] / none["epochs_trained"]
    assert none["measured_by"].startswith("sweep_quality.json, finished ")
    assert merged["medians"]["epochs_share_of_none"] == none["epochs_share"]
    # Another sweep's pruner=none is not taken.
    r["sweep_flags"] = [*r["sweep_flags"], "--epochs-max", "9"]
    later.write_text(json.dumps(r))
    refused = merge("--none-from", str(earlier), "--out", str(tmp_path / "refused.json"))
    assert refused.returncode != 0 and "other sweep flags" in refused.stderr


def test_cnn_trains_the_example_model_on_images_once_then_sweeps_it(results: Path) -> None:
    r = load(results, "cnn")
    assert r["model"] == "examples/cnn.py:build" and r["params"] == {"filters": 4}
    assert r["train_flags"][:2] == ["--input-shape", "image"]
    assert 0 < r["test_accuracy"] <= 1 and 0 < r["fit_minutes"] < r["minutes"]
    assert r["epochs_trained"] == 1 and r["best_epoch"] == 1
    assert r["targets"]["met"] == (r["test_accuracy"] >= 0.99)
    # Then a sweep of its own parameters beside the built-in ones, a champion promoted.
    sweep = r["sweep"]
    assert sweep["flags"][sweep["flags"].index("--search-space") + 1] == "examples/cnn_space.yaml"
    assert sum(sweep["states"].values()) == 2 and len(sweep["trials"]) == 2
    assert {"filters", "kernel_size", "dense_units", "learning_rate"} <= set(
        sweep["trials"][1]["params"]
    )
    assert 0 < sweep["champion_test_accuracy"] <= 1 and sweep["minutes"] > 0


def test_report_renders_a_row_per_result_between_the_markers(results: Path) -> None:
    page = results / "README.md"  # a copy of benchmarks/README.md, the file report.py rewrites
    page.write_text((BENCH / "README.md").read_text())
    before = page.read_text()
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "report.py"),
            "--results",
            str(results),
            "--readme",
            str(page),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    # Only the table between the markers changed.
    assert text.split(start)[0] == before.split(start)[0]
    assert text.split(end)[1] == before.split(end)[1]
    table = text.split(start)[1].split(end)[0]
    rows = [line for line in table.splitlines() if re.search(r"`[\w-]+\.json`", line)]
    expected = {"overhead.json", "pruning.json", "champion.json", "sweep_quality.json", "cnn.json"}
    if (results / "hyperband.json").exists():
        expected.add("hyperband.json")
    assert sorted(re.search(r"`([\w-]+\.json)`", row).group(1) for row in rows) == sorted(expected)
    assert all(row.count(" | ") == 3 for row in rows)  # four cells: no stray pipe in a figure
    # Each row is dated by the day its JSON was written.
    assert all(re.search(r"\d{4}-\d{2}-\d{2}; `", row) for row in rows), rows


def test_benchmarks_readme_holds_the_table_report_renders() -> None:
    # report.py rewrites benchmarks/README.md by default; the committed table is up to date.
    sys.path.insert(0, str(BENCH))
    try:
        import report
    finally:
        sys.path.remove(str(BENCH))
    text = (BENCH / "README.md").read_text()
    assert text.count("<!-- bench:start -->") == text.count("<!-- bench:end -->") == 1
    assert report.replace_between_markers(text, report.render(BENCH / "results")) == text, (
        "benchmarks/README.md's table is not what benchmarks/report.py renders from "
        "benchmarks/results/: run it"
    )
