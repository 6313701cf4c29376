"""One training run from start to finish: ``training`` (up to ``fit``), ``finishing`` (after
it), ``resume``, ``registry``, ``scoring`` and ``evaluation`` of a model URI, and ``notebook``
(``tracking.track``, your own ``fit``)."""
