"""Worker processes on this machine for one study (``-P workers=N``), replaced after
``trials_per_process`` trials so that memory stays flat however long the study runs.

The supervisor (this process) opens the study and its parent run once (``study.open_study``),
starts the workers, shows one progress bar for the study and the workers' trial lines above it,
replaces a worker that reached its quota (or died) with a fresh process while the study still
needs trials, and, when they are done, writes the summary and promotes (``study.finish``).
Ctrl-C or SIGTERM reaches each worker once: its running trial ends KILLED, the parent KILLED.
Workers run in their own session so that a terminal's Ctrl-C is forwarded exactly once; a
supervisor that dies without forwarding anything (SIGKILL, the OOM killer) still stops them:
each worker gets SIGTERM when it does (``pipelines._cli.follow_parent``), so no worker outlives it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import IO, NamedTuple

from tqdm import tqdm

from tracking.config import TrainConfig
from tracking.data import load_dataset
from tracking.devices import visible_gpus, worker_gpu_env
from tracking.errors import Terminated, WorkerRefused
from tracking.sweep.config import SweepConfig
from tracking.sweep.objective import Objective
from tracking.sweep.storage import open_sweep_storage, stale_trials
from tracking.sweep.study import (
    SweepResult,
    conclude,
    load_study,
    open_study,
    optimize,
    remaining,
)
from tracking.sweep.summary import state_counts
from tracking.tracker import Tracker

log = logging.getLogger(__name__)

# A worker's exit status: the study needs nothing more from it (0); it ran its quota and should
# be replaced (RECYCLE); bad input, said in one line on its stderr (2); interrupted (130).
RECYCLE = 75
MAX_EARLY_DEATHS = 3  # a worker that keeps dying before finishing a trial is not restarted
STOP_GRACE = 60.0  # seconds a worker gets to end its run after Ctrl-C/SIGTERM


class WorkerSpec(NamedTuple):
    """What one worker process needs, passed as JSON on its standard input."""

    base: dict[str, object]
    sweep: dict[str, object]
    worker: int
    parent_run_id: str
    max_trials: int | None
    supervisor_pid: int = 0  # the worker is SIGTERMed when this process dies (0: never)

    def to_json(self) -> str:
        return json.dumps(self._asdict())

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        spec = cls(**json.loads(text))
        return spec

    def configs(self) -> tuple[TrainConfig, SweepConfig]:
        return TrainConfig(**self.base), SweepConfig(**self.sweep)  # type: ignore[arg-type]


class _Worker:
    """One running worker process, its stderr pumped above the progress bar."""

    def __init__(
        self, index: int, command: Sequence[str], env: Mapping[str, str], spec: str
    ) -> None:
        self.index = index
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            list(command),
            env=dict(env),
            stdin=subprocess.PIPE,  # the spec (it may hold a storage password: not in argv)
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # the supervisor forwards Ctrl-C itself, exactly once
        )
        assert self.process.stdin is not None
        self.process.stdin.write(spec)
        self.process.stdin.close()
        self.errors: list[str] = []
        assert self.process.stderr is not None
        self._pump = threading.Thread(target=self._pump_lines, args=(self.process.stderr,))
        self._pump.daemon = True
        self._pump.start()

    def _pump_lines(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip()
            if line.startswith("error: "):  # said once, by the supervisor
                self.errors.append(line)
            else:
                tqdm.write(line, file=sys.stderr)

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._pump.join(timeout=5)
        return code


def supervise(
    base: TrainConfig,
    sweep: SweepConfig,
    *,
    tracker: Tracker,
    storage: object,
    worker_command: Sequence[str],
    env: Mapping[str, str],
) -> SweepResult:
    """Run the study in ``sweep.workers`` processes: ``worker_command``, a WorkerSpec's JSON on
    its standard input."""
    import optuna

    assert isinstance(storage, optuna.storages.BaseStorage)
    tracker.allow_concurrent_writers()
    study, parent = open_study(tracker, storage, base, sweep)
    env = {k: v for k, v in env.items() if k != "MLFLOW_RUN_ID"}  # workers make child runs only
    deadline = time.monotonic() + sweep.timeout if sweep.timeout else None

    def run_more(n: int) -> None:
        _run_workers(study, base, sweep, parent, worker_command, env, deadline)

    # The data is loaded at the end only, to score the challenger and the champion.
    return conclude(tracker, study, base, sweep, parent, run_more, lambda: load_dataset(base))


def _run_workers(
    study: object,
    base: TrainConfig,
    sweep: SweepConfig,
    parent: str,
    command: Sequence[str],
    env: Mapping[str, str],
    deadline: float | None,
) -> None:
    import optuna

    assert isinstance(study, optuna.Study)

    def spec(index: int) -> str:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        quota = sweep.trials_per_process or None
        sweep_now = {**asdict(sweep), "timeout": left or 0.0}
        return WorkerSpec(asdict(base), sweep_now, index, parent, quota, os.getpid()).to_json()

    def finished() -> int:
        counts = state_counts(study.get_trials(deepcopy=False))
        return counts["COMPLETE"] + counts["PRUNED"]

    def needed() -> bool:
        timed_out = deadline is not None and time.monotonic() >= deadline
        return remaining(study, sweep) > 0 and not timed_out

    if not needed():
        log.info("study %s already counts n_trials=%d", study.study_name, sweep.n_trials)
        return
    gpus = visible_gpus(sweep.gpus)  # worker i gets gpus[i % len(gpus)]; none: env unchanged
    workers = {
        i: _Worker(i, command, {**env, **worker_gpu_env(i, gpus)}, spec(i))
        for i in range(sweep.workers)
    }
    early_deaths = 0
    bar = tqdm(total=sweep.n_trials, initial=finished(), desc=study.study_name, file=sys.stderr)
    try:
        while workers:
            time.sleep(0.5)
            if (n := finished()) != bar.n:
                bar.n = n
                bar.refresh()
            for index, worker in list(workers.items()):
                code = worker.process.poll()
                if code is None:
                    continue
                del workers[index]
                worker.wait(5)
                if code == 2 and worker.errors:  # bad input or a missing monitor: stop all
                    raise WorkerRefused(worker.errors[-1].removeprefix("error: "))
                if code not in (0, RECYCLE):
                    log.warning("worker %d exited with status %d", index, code)
                    lived = time.monotonic() - worker.started
                    early_deaths = early_deaths + 1 if lived < 30 and code != 130 else 0
                    if early_deaths >= MAX_EARLY_DEATHS:
                        raise RuntimeError(f"workers keep dying (last status {code}); see above")
                if code != 130 and needed():  # replace it: a fresh process, same study
                    workers[index] = _Worker(
                        index, command, {**env, **worker_gpu_env(index, gpus)}, spec(index)
                    )
        bar.n = finished()
    except (KeyboardInterrupt, Terminated) as stop:
        signum = signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT
        for worker in workers.values():
            worker.signal(signum)
        for worker in workers.values():
            worker.wait(STOP_GRACE)
        raise
    except BaseException:
        for worker in workers.values():
            worker.signal(signal.SIGTERM)
        for worker in workers.values():
            worker.wait(STOP_GRACE)
        raise
    finally:
        bar.close()


def run_worker(spec: WorkerSpec, *, tracker: Tracker) -> int:
    """In a worker process: trials of the study until it is done or this process's quota is
    reached; RECYCLE then (a fresh process takes over), else 0."""
    base, sweep = spec.configs()
    storage = open_sweep_storage(sweep)
    if (handler := stale_trials(storage)) is not None:
        handler.tracker = tracker  # a dead worker's run is ended by whoever notices it
    study = load_study(storage, base, sweep, worker=spec.worker + 1)
    dataset = load_dataset(base)
    objective = Objective(base, sweep, dataset, tracker=tracker, parent_run_id=spec.parent_run_id)
    timeout = sweep.timeout or None  # what is left of the study's timeout (WorkerSpec)
    optimize(study, objective, sweep, max_trials=spec.max_trials, timeout=timeout,
             label=f"worker {spec.worker}: ")  # fmt: skip
    quota_reached = spec.max_trials is not None and objective.trials_run >= spec.max_trials
    return RECYCLE if quota_reached and remaining(study, sweep) > 0 else 0


def worker_env(python_paths: Sequence[str]) -> dict[str, str]:
    """This process's environment, with ``python_paths`` first on PYTHONPATH."""
    paths = [*python_paths, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
