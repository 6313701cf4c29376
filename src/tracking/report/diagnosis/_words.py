"""The description of a diagnosis: one paragraph for the label, then one per secondary finding.

Text says "epoch N" with N = step + 1, as everywhere in the project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tracking.report.diagnosis._curves import Rise
from tracking.report.diagnosis._rules import (
    DIVERGE_SHARE,
    BlewUp,
    Curves,
    NonFinite,
    TrainingRose,
    Unstable,
    Verdict,
)


def main_paragraph(v: Verdict, c: Curves) -> str:
    """Why the label, and how many epochs to train next time."""
    n, name = len(c.loss), words(c.monitor).capitalize()
    if v.label == "diverged":
        last = (
            f"the best usable epoch is {v.recommended}" if v.recommended else "no epoch is usable"
        )
        why = _diverged(v.evidence, c)
        return f"Training diverged: {why}; {last}. Lower the learning rate."
    if v.label == "underfitting":
        text = (
            f"Training loss went down only {v.evidence:.0%} from epoch 1 ({c.loss[0]:.4g}) in {n} "
            f"epochs{'' if c.val is None else ', and validation loss as little'}: the model is "
            "underfitting (too small, learning rate too low or too much regularization). More "
            "epochs will not help much; change the model or the optimizer."
        )
        return text
    if v.label == "overfitting" and isinstance(v.evidence, Rise):
        k = v.recommended
        return (
            f"Validation loss was lowest at epoch {k} ({v.evidence.low:.4g}); from epoch {k + 1} "
            f"the model overfits: validation loss rose {v.evidence.relative:.0%} while training "
            f"loss kept falling. Train for {epochs(k)}."
        )
    b = int(np.nanargmax(c.watched) if c.mode == "max" else np.nanargmin(c.watched))
    at_best = f"best {c.watched[b]:.4g} at epoch {b + 1} of {n}"
    if v.label == "still_improving":
        text = f"{name} was still improving at the end ({at_best}): train longer, e.g. "
        return f"{text}{epochs(v.recommended)}."
    after = "with no clear improvement or rise after it"
    if isinstance(v.evidence, Rise):  # rule 3 without falling training loss
        after = (
            f"although validation loss rose {v.evidence.relative:.0%} from its lowest, training "
            "loss stalled"
        )
    return f"{name} levelled off: {at_best}, {after}. Train for {epochs(v.recommended)}."


def unstable_paragraph(u: Unstable, first: float) -> str:
    """The training loss's wobble near its floor, or its jump."""
    of = _of(u.scale, first)
    share = (u.high - u.low) / u.scale
    if share <= DIVERGE_SHARE:
        return (
            f"The training loss wobbles near its floor after epoch {u.step + 1} (lowest "
            f"{u.low:.2g}, up to {u.high:.2g} at epoch {u.high_step + 1}: {share:.1%} of {of}, "
            "noise rather than divergence); a lower learning rate or a schedule would steady it."
        )
    return (
        f"The training loss jumped from {u.low:.3g} at epoch {u.step + 1} to {u.high:.3g} at "
        f"epoch {u.high_step + 1} ({share:.0%} of {of}) before falling again: the learning rate "
        "is high for this model; a lower one or a schedule would steady it."
    )


def disagreement_paragraph(
    history: Mapping[str, Sequence[float]], key: str, by_loss: int, by_metric: int
) -> str:
    """Validation loss and the metric are best at epochs far apart (0-based steps)."""
    loss_key = "val_loss" if key.startswith("val_") else "loss"
    name, value = words(key).capitalize(), history[key][by_metric]
    lowest = f"{words(loss_key)} was lowest at epoch {by_loss + 1}"
    if by_metric < by_loss:
        return f"{name} was best at epoch {by_metric + 1} ({value:.4g}), before {lowest}."
    why = (
        "the model grows more confident on examples it already gets wrong"
        if key.endswith("accuracy")
        else "the loss weighs large errors differently"
    )
    return (
        f"{name} kept improving until epoch {by_metric + 1} ({value:.4g}) although {lowest}: {why}."
    )


def _diverged(why: object, c: Curves) -> str:
    if isinstance(why, NonFinite):
        return f"{why.key} became {why.value} at epoch {why.step + 1}"
    if isinstance(why, TrainingRose):
        r = why.rise
        text = f"training loss rose {r.relative:.0%} after its lowest at epoch {r.low_step + 1}"
        if why.above_start and r.low_step == 0:
            return (
                f"training loss climbed {r.relative:.0%} from epoch 1 ({r.low:.4g}) to {r.last:.4g}"
            )
        if why.above_start:
            return f"{text}, back above epoch 1's {c.loss[0]:.4g}"
        if why.steady:
            return (
                f"training loss climbed steadily after its lowest at epoch {r.low_step + 1} "
                f"({r.low:.4g} to {r.last:.4g}) and never got near zero"
            )
        share = r.smoothed / why.scale
        return f"{text} ({r.low:.4g} to {r.last:.4g}: {share:.0%} of {_of(why.scale, c.loss[0])})"
    if isinstance(why, BlewUp):
        times = f"{why.last / why.low:.0f}x" if why.low > 0 else "far above"
        where = f"at epoch {why.epochs}, {times} its minimum {why.low:.4g}"
        return f"{words(why.key)} blew up to {why.last:.4g} {where}"
    return "a training batch had a NaN/inf loss and training stopped"


def _of(scale: float, first: float) -> str:
    """What the scale of the training loss is, in words."""
    return f"epoch 1's {first:.3g}" if scale == abs(first) else f"its highest {scale:.3g}"


def epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def words(key: str) -> str:
    """``val_mae`` -> "validation MAE", ``loss`` -> "training loss"."""
    base = key.removeprefix("val_")
    name = base.upper() if base in ("mae", "mse") else base
    return f"{'validation' if key.startswith('val_') else 'training'} {name}"
