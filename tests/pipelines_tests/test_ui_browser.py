"""The MLflow UI and optuna-dashboard as a user sees them, in headless Chromium.

One store is built through the CLI (a digits training run registered as digits-mlp version 1,
then a 3-trial digits sweep whose winner becomes version 2 @champion), served by a real
`mlflow server` and `optuna-dashboard` on free loopback ports. Each test opens one page, asserts
texts of its rendered DOM and keeps a screenshot (``$UI_SCREENSHOT_DIR``, else
``build/ui-screenshots/``). The ids and names asserted come from MlflowClient and Optuna.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from tests import browser
from tests.helpers import role_filter

# Chromium's virtual time under the load of other tests: one at a time (Makefile, `serial`).
pytestmark = [pytest.mark.slow, pytest.mark.serial]

MODEL = "digits-mlp"
STUDY = "digits-ui-sweep"
PER_EPOCH = ("loss", "accuracy", "val_loss", "val_accuracy")  # README: metrics per epoch


@dataclass(frozen=True)
class UI:
    client: MlflowClient
    mlflow_url: str
    dashboard_url: str
    optuna_storage: str
    training_run: Run  # the run behind digits-mlp version 1
    parent_run: Run  # the sweep's parent run
    picture_run: Run  # a longer training, not registered: the README's picture
    shots: Path

    def run_url(self, run: Run, tab: str = "") -> str:
        base = f"{self.mlflow_url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        return f"{base}/{tab}" if tab else base


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    browser.require_chromium()  # before a minute of training
    work = tmp_path_factory.mktemp("ui")
    store = f"sqlite:///{work}/mlflow.db"
    optuna_storage = f"sqlite:///{work}/optuna.db"
    small = ("--dataset", "digits", "--hidden-units", "32", "--registered-model-name", MODEL)
    browser.run_pipeline("pipelines.train", *small, "--epochs", "4", cwd=work, tracking_uri=store)
    browser.run_pipeline(
        "pipelines.sweep",
        *small,
        *("--n-trials", "3", "--epochs-min", "2", "--epochs-max", "3", "--refit", "false"),
        *("--cv-folds", "0"),
        *("--study-name", STUDY, "--storage", optuna_storage),
        cwd=work,
        tracking_uri=store,
    )
    # The README's picture: long enough to show the best epoch before the end, the rest shaded.
    picture = ("--dataset", "digits", "--hidden-units", "256,128", "--dropout", "0")
    picture += ("--epochs", "30", "--patience", "30", "--batch-size", "16")
    picture += ("--learning-rate", "0.002")
    browser.run_pipeline(
        "pipelines.train", *picture, "--registered-model-name", "", cwd=work, tracking_uri=store
    )
    client = MlflowClient(tracking_uri=store, registry_uri=store)
    training_run = client.get_run(client.get_model_version(MODEL, "1").run_id)
    (picture_run,) = client.search_runs(
        [training_run.info.experiment_id], filter_string="params.hidden_units = '256,128'"
    )
    (parent_run,) = client.search_runs(
        [training_run.info.experiment_id], filter_string=role_filter("parent")
    )
    env = browser.project_env(store)

    # Runs logged without a server keep absolute artifact URIs (<work>/mlruns/...): the server
    # reads those directly. --artifacts-destination only serves mlflow-artifacts:/ URIs, i.e.
    # runs created through this server; it is set so nothing lands elsewhere.
    mlflow_server = browser.mlflow_server(store, work / "mlartifacts")

    def dashboard(port: int) -> list[str]:
        return [
            *(str(browser.BIN / "optuna-dashboard"), optuna_storage),
            *("--host", "127.0.0.1", "--port", str(port)),
        ]

    with (
        browser.serve("mlflow-server", mlflow_server, health="/health", cwd=work, env=env) as ml,
        browser.serve("optuna-dashboard", dashboard, health="/api/meta", cwd=work, env=env) as od,
    ):
        print(
            f"mlflow server up in {ml.startup_seconds:.1f} s, dashboard {od.startup_seconds:.1f} s"
        )
        yield UI(
            client,
            ml.url,
            od.url,
            optuna_storage,
            training_run,
            parent_run,
            picture_run,
            browser.screenshot_dir(),
        )


def assert_shows(page: browser.Page, expected: list[str]) -> None:
    missing = page.missing(expected)
    assert not missing, (
        f"{page.url} (budget {page.budget_ms} ms, screenshot {page.screenshot}) lacks {missing}; "
        f"its text: {page.text[:3000]}"
    )
    print(f"{page.url}: {len(expected)} texts in {page.seconds:.1f} s (budget {page.budget_ms} ms)")


def test_run_page_charts_every_metric(ui: UI) -> None:
    run = ui.training_run
    assert set(PER_EPOCH) <= set(run.data.metrics)
    per_epoch = [
        key
        for key in sorted(run.data.metrics)
        if len(ui.client.get_metric_history(run.info.run_id, key)) > 1
    ]
    assert set(PER_EPOCH) <= set(per_epoch)
    # MLflow's system metrics (system/...) have a tab of their own; the model's are charted here:
    # a line chart per per-epoch metric, legend "<run name> (<metric>)", x axis "Step"
    model = sorted(k for k in run.data.metrics if not k.startswith("system/"))
    system = sorted(k for k in run.data.metrics if k.startswith("system/"))
    assert "system/cpu_utilization_percentage" in system  # what the machine did, sampled
    expected = [run.info.run_name, "Model metrics", f"Model metrics ({len(model)})"]
    expected += [f"{run.info.run_name} ({key})" for key in per_epoch]
    expected += model  # every metric has a chart titled by its key

    def charts_tab(tab: str, expected: list[str], charts: int) -> browser.Page:
        # The chart grid is virtualized (only charts in the viewport are rendered): a window
        # tall enough for every row (3 charts of ~380 px a row at 1400 px wide) renders all of
        # them, in the DOM and in the screenshot.
        page = browser.look(
            ui.run_url(run, tab),
            expected,
            screenshot=ui.shots / f"a-run-{tab}.png",
            window=(1400, 400 + 380 * math.ceil(charts / 3)),
        )
        assert_shows(page, expected)
        return page

    page = charts_tab("model-metrics", expected, len(model))
    assert page.dom.count("js-plotly-plot") >= len(model)
    # The System metrics tab charts the machine's use during the run (CPU, memory, ...).
    expected = [f"System metrics ({len(system)})", *(k.removeprefix("system/") for k in system)]
    charts_tab("system-metrics", expected, len(system))


def test_run_artifacts_tab_lists_and_previews_the_plots(ui: UI) -> None:
    run = ui.training_run
    listed = {a.path for a in ui.client.list_artifacts(run.info.run_id)}
    listed |= {a.path for a in ui.client.list_artifacts(run.info.run_id, "plots")}
    assert {"history.csv", "plots/loss_curve.png"} <= listed
    # /artifacts/<path> opens the tab with the folder expanded and the file previewed
    expected = ["Artifacts", "plots", "loss_curve.png", "history.csv", "plots/loss_curve.png"]
    expected += [Path(path).name for path in listed]
    page = browser.look(
        ui.run_url(run, "artifacts/plots/loss_curve.png"),
        expected,
        screenshot=ui.shots / "b-run-artifacts.png",
    )
    assert_shows(page, expected)
    # the preview is an <img> of bytes the browser fetched from the server (a blob: URL)
    assert re.search(r'<img alt="plots/loss_curve.png" src="blob:', page.dom), page.dom[-3000:]
    # and the server hands out the very file the run logged
    local = Path(ui.client.download_artifacts(run.info.run_id, "plots/loss_curve.png"))
    status, body = browser.http_bytes(
        f"{ui.mlflow_url}/get-artifact?path=plots/loss_curve.png&run_uuid={run.info.run_id}"
    )
    assert status == 200 and body == local.read_bytes()


def without_side_panel(png: Path) -> None:
    """Crop the MLflow UI's assistant panel (open on a first visit) off a screenshot: cut at
    the right edge of the page's main card, the first pixel right of the middle that is not
    white in the card's top rows. A screenshot without such an edge is left as it is."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    width = pixels.shape[1]
    top = pixels[12:20, width // 2 :, :3].min(axis=(0, 2))  # darkest channel per column
    edges = (top < 0.97).nonzero()[0]
    if len(edges) and edges[0] > 0:
        matplotlib.image.imsave(png, pixels[:, : width // 2 + int(edges[0]) + 8])


def test_readme_picture_is_a_run_page_with_its_curves(ui: UI) -> None:
    run = ui.picture_run
    assert len(ui.client.get_metric_history(run.info.run_id, "val_loss")) >= 10  # a real curve
    expected = [run.info.run_name, "Artifacts", "plots", "loss_curve.png", "plots/loss_curve.png"]
    # `make screenshot` (DOCS_IMAGES=docs/images) writes the README's picture; else build/.
    docs = os.environ.get("DOCS_IMAGES")
    folder = (browser.REPO / docs) if docs else ui.shots
    page = browser.look(
        ui.run_url(run, "artifacts/plots/loss_curve.png"),
        expected,
        screenshot=folder / "mlflow-run.png",
        window=(1400, 640),  # the page down to the end of the plot
    )
    assert_shows(page, expected)
    # the learning curve the run logged is on the page, as an image the browser loaded
    assert re.search(r'<img alt="plots/loss_curve.png" src="blob:', page.dom), page.dom[-3000:]
    without_side_panel(folder / "mlflow-run.png")
    print(f"wrote {folder / 'mlflow-run.png'}")


def test_registered_model_page_lists_versions_and_champion(ui: UI) -> None:
    versions = {str(v.version) for v in ui.client.search_model_versions(f"name = '{MODEL}'")}
    assert versions == {"1", "2"}
    # @champion: the sweep's version 2 if it beat the training's version 1 beyond noise.
    assert str(ui.client.get_model_version_by_alias(MODEL, "champion").version) in versions
    expected = ["Registered Models", MODEL, "Versions", "Version 1", "Version 2", "champion"]
    page = browser.look(
        f"{ui.mlflow_url}/#/models/{MODEL}",
        expected,
        screenshot=ui.shots / "c-registered-model.png",
    )
    assert_shows(page, expected)


def test_sweep_parent_run_page_shows_trials_and_best_run(ui: UI) -> None:
    parent = ui.parent_run
    children = ui.client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert len(children) == 3
    best_run_id = parent.data.tags["best_run_id"]
    assert best_run_id in {child.info.run_id for child in children}
    expected = [STUDY, "Finished", "Child runs", "Tags", f"best_run_id : {best_run_id}"]
    expected += [child.info.run_name for child in children]
    page = browser.look(
        ui.run_url(parent),
        expected,
        screenshot=ui.shots / "d-sweep-parent-run.png",
    )
    assert_shows(page, expected)


def test_optuna_dashboard_shows_the_study(ui: UI) -> None:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=ui.optuna_storage)
    status, body = browser.http_json(f"{ui.dashboard_url}/api/studies")
    assert status == 200 and isinstance(body, dict)
    (study_id,) = [s["study_id"] for s in body["study_summaries"] if s["study_name"] == STUDY]
    expected = [
        f"{STUDY} (id={study_id})",
        "History",
        "Intermediate values",
        f"Best Trial (number={study.best_trial.number})",
        "mlflow_parent_run_id",
        ui.parent_run.info.run_id,
    ]
    expected += [f"trial #{trial.number}" for trial in study.trials]
    page = browser.look(
        f"{ui.dashboard_url}/dashboard/studies/{study_id}",
        expected,
        screenshot=ui.shots / "e-optuna-dashboard-study.png",
    )
    assert_shows(page, expected)
