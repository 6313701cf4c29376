"""One worker process of a sweep, started by ``python -m pipelines.sweep`` (not for direct use).

It reads a ``tracking.sweep.workers.WorkerSpec`` as JSON on its standard input (not its
command line, which every user of the machine can see: the storage URL may hold a password).
Exit status: 0 when the study needs nothing more from it, 75 when it ran its
``trials_per_process`` quota (the supervisor starts a fresh process), 2 with one ``error:``
line, 130 when interrupted (Ctrl-C or SIGTERM forwarded by the supervisor, or the supervisor's
death, however it died: ``pipelines._cli.follow_parent``).
"""

from __future__ import annotations

import json
import sys

from pipelines import _cli


def main() -> int:
    _cli.setup()
    text = sys.stdin.read()
    _cli.follow_parent(json.loads(text).get("supervisor_pid", 0))  # no orphan worker

    _cli.import_tensorflow()  # without its C++ start-up notices
    import keras
    import optuna

    from tracking.config.errors import ConfigError, MonitorError, Terminated
    from tracking.door.tracker import Tracker
    from tracking.sweep.workers import WorkerSpec, run_worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    keras.utils.disable_interactive_logging()
    _cli.raise_on_sigterm()
    try:
        return run_worker(WorkerSpec.from_json(text), tracker=Tracker())
    except (ConfigError, MonitorError) as error:
        return _cli.fail(error)
    except (KeyboardInterrupt, Terminated):
        return 130


if __name__ == "__main__":
    sys.exit(main())
