"""Model cards: the Markdown descriptions of a registered model and of each of its versions.

Pure functions of what the training run logged (params, metrics, tags, its description) and of
what the logged model takes (``ModelInputs``, class names); ``tracking.run.registry`` writes them.
A version's card says where the data came from and how big it was, the key parameters, the best
epoch, the diagnosis, the test metrics and the run; the model's says what it takes and returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from tracking.config import tags as T
from tracking.config.model_function import BUILT_IN
from tracking.preflight.inputs import ModelInputs

MODEL_KEYS = (
    "hidden_units",
    "activation",
    "kernel_initializer",
    "batch_norm",
    "dropout",
    "l2",
    "translation",
)
OWN_MODEL_KEYS = ("input_shape", "params", "batch_norm", "dropout", "l2")
FIT_KEYS = ("optimizer", "learning_rate", "batch_size", "epochs", "monitor", "patience")
BEST_KEYS = ("val_loss", "val_accuracy", "val_mae", "loss", "accuracy", "mae")
MAX_CLASSES_SHOWN = 12
MODEL_SUMMARY = "model_summary.txt"  # the run's artifact that the card shows
FITTED_WITH = "tracking.track"  # param fitted_with of a run tracking.run.notebook.track made


class RunFacts(NamedTuple):
    run_id: str
    run_name: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    description: str  # the run's description: the diagnosis summary


def version_card(
    name: str,
    version: str,
    run: RunFacts,
    inputs: ModelInputs | None,
    class_names: Sequence[str],
    *,
    summary: str = "",
) -> str:
    """The description of ``name`` version ``version``, registered from ``run``; ``summary``,
    the Keras model's, closes it."""
    p, m = run.params, run.metrics
    lines = [f"**{name} version {version}**, from run `{run.run_name}` (`{run.run_id}`).", ""]
    sizes = ", ".join(
        f"{_int(p.get(key))} {split}"
        for key, split in (("n_train", "train"), ("n_val", "validation"), ("n_test", "test"))
    )
    source = p.get("data_source", "?")
    lines.append(f"- **Data**: {p.get('dataset', '?')} from {source}; rows: {sizes}.")
    if inputs is not None:
        scaled = "as it was fitted" if _fitted_by_user(run) else "the model scales them itself"
        lines.append(f"- **Input**: {inputs.describe()}; {scaled}.")
    lines.append(f"- **Output**: {_output(run, class_names)}.")
    function = p.get("model", BUILT_IN)
    if function == BUILT_IN:
        lines.append(f"- **Model**: the built-in MLP (`{function}`), {_pairs(p, MODEL_KEYS)}.")
    else:
        pairs = _pairs(p, OWN_MODEL_KEYS)  # none for a model fitted with tracking.track
        lines.append(f"- **Model**: built by `{function}`{', ' + pairs if pairs else ''}.")
    if _regression(run):  # the loss it trained on: auto is mae
        fit = {**p, "loss": "mae" if p.get("loss", "auto") == "auto" else p["loss"]}
        lines.append(f"- **Training**: {_pairs(fit, ('loss', *FIT_KEYS))}.")
    else:
        lines.append(f"- **Training**: {_pairs(p, FIT_KEYS)}.")
    lines.append(f"- **Best epoch**: {_best(run)}.")
    if T.DIAGNOSIS in run.tags:
        text = " ".join(run.description.split())
        lines.append(f"- **Diagnosis**: {run.tags[T.DIAGNOSIS]}. {text}".rstrip())
    if "test_accuracy" in m:
        lines.append(
            f"- **Test split** (best weights): accuracy {m['test_accuracy']:.4f}, "
            f"loss {m.get('test_loss', math.nan):.4f}."
        )
    elif "test_mae" in m:
        lines.append(
            f"- **Test split** (best weights, in {p.get('label_column', '?')}'s units): "
            f"MAE {m['test_mae']:.4f}, RMSE {m.get('test_rmse', math.nan):.4f}, "
            f"R² {m.get('test_r2', math.nan):.4f}."
        )
    lines.append(f"- **Run**: `{run.run_id}`.")
    if summary.strip():
        what = "as fitted" if _fitted_by_user(run) else "the project's scaling included"
        lines += ["", f"**Model summary** ({what}):", "", "```",
                  summary.rstrip(), "```"]  # fmt: skip
    return "\n".join(lines)


def model_summary(
    name: str, run: RunFacts, inputs: ModelInputs | None, class_names: Sequence[str]
) -> str:
    """The registered model's short description, written with its first version."""
    takes = "raw rows" if inputs is None else inputs.describe()
    kind = "regressor" if _regression(run) else "classifier"
    function = run.params.get("model", BUILT_IN)
    what = "MLP" if function == BUILT_IN else f"model (`{function}`)"
    return (
        f"Keras {what} {kind} on {run.params.get('dataset', '?')} data "
        f"({run.params.get('data_source', '?')}). Takes {takes}; returns "
        f"{_output(run, class_names)}. Each version's description is its model card; "
        f"`{name}@champion` is the version a sweep promoted."
    )


def _best(run: RunFacts) -> str:
    m, p = run.metrics, run.params
    if "best_epoch" not in m:
        return "none (no epoch had a finite monitored value)"
    trained = _int(m.get("epochs_trained"))
    stop = run.tags.get(T.STOP_REASON, "?")
    monitored = [k for k in BEST_KEYS if f"best_{k}" in m]
    values = ", ".join(f"{k} {m[f'best_{k}']:.4f}" for k in monitored)
    monitor = p.get("monitor", "?")
    text = f"{int(m['best_epoch']) + 1} of {trained} ({stop}), by {monitor}"
    return f"{text}: {values}" if values else text


def _fitted_by_user(run: RunFacts) -> bool:
    """A model its user compiled and fitted (``tracking.run.notebook.track``): no scaling added."""
    return run.params.get("fitted_with") == FITTED_WITH


def _regression(run: RunFacts) -> bool:
    return run.params.get("task") == "regression"


def _output(run: RunFacts, class_names: Sequence[str]) -> str:
    if _regression(run):
        label = run.params.get("label_column", "?")
        return f"one number per row, the predicted {label} in its own units"
    return (
        f"the class of each row ({_classes(class_names)}), or with "
        '`params={"output": "probabilities"}` one probability per class'
    )


def _pairs(params: Mapping[str, str], keys: Sequence[str]) -> str:
    return ", ".join(f"{k} {_short(params[k])}" for k in keys if params.get(k, "") != "")


def _short(value: str) -> str:
    """A sampled ``0.29873782634254664`` as ``0.2987``; anything else as logged."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if "." not in value or len(value) <= 8 else f"{number:.4g}"


def _classes(names: Sequence[str]) -> str:
    shown = ", ".join(str(n) for n in names[:MAX_CLASSES_SHOWN])
    more = f", ... ({len(names)} classes)" if len(names) > MAX_CLASSES_SHOWN else ""
    return f"{shown}{more}" if names else "unnamed"


def _int(value: object) -> str:
    try:
        return f"{int(float(str(value))):,}".replace(",", " ")
    except ValueError:
        return "?"
