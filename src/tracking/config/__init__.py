"""Configuration: the parameters of a run (``train``), how a field declares its bounds
(``params``), the one user-facing error type (``errors``), secrets kept out of everything
written (``redact``), the names of the project's tags (``tags``) and the ``-P model`` function
(``model_function``). Standard library only."""
