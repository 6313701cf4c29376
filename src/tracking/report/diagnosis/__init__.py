"""Read a Keras history the way the Keras tutorials read learning curves by eye.

A pure function of the history dict (one value per epoch, index = step; text says epoch step + 1),
standard library and numpy only so it runs anywhere. The label is the main finding; the
description (``Diagnosis.summary``) gives it first, then the secondary findings, one paragraph
each. ``MODES`` gives each metric's direction, as ``tracking.config.train.METRIC_MODES`` does for
monitors, plus the regression metrics.

- ``_curves``: statistics of one curve: noise, scale, smoothing, a clear rise;
- ``_rules``: the rules, in order, and the secondary findings (read its docstring for them);
- ``_words``: the description;
- ``_diagnose``: ``diagnose`` and ``diagnosis_metrics``, tying them together.
"""

from __future__ import annotations

from tracking.report.diagnosis._diagnose import (
    BEST_EPOCHS_DISAGREE,
    MODES,
    TRAINING_LOSS_WOBBLES,
    Diagnosis,
    diagnose,
    diagnosis_metrics,
    monitor_mode,
)
from tracking.report.diagnosis._rules import DiagnosisLabel

__all__ = [
    "BEST_EPOCHS_DISAGREE",
    "MODES",
    "TRAINING_LOSS_WOBBLES",
    "Diagnosis",
    "DiagnosisLabel",
    "diagnose",
    "diagnosis_metrics",
    "monitor_mode",
]
