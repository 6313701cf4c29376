"""The one door to MLflow: ``tracker.Tracker`` and its sides (``artifacts``, ``models``), the
logged Keras model (``logged_model``) and the project's own small types callers get back
(``records``). Only these modules (and ``tracking.compat``) import MLflow."""
