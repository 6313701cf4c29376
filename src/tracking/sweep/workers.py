"""Worker processes on this machine for one study (``-P workers=N``), replaced after
``trials_per_process`` trials so that memory stays flat however long the study runs.

``run_workers`` is how ``tracking.sweep.study.run_sweep`` runs trials when they do not run in
its own process: it starts the workers on the study it opened, shows one progress bar for the
study and the workers' trial lines above it, and replaces a worker that reached its quota (or
died) with a fresh process while the study still needs trials; the summary and promotion are
``run_sweep``'s, as for trials run in one process. ``run_worker`` is the worker's side.
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
from dataclasses import asdict, dataclass
from typing import IO, NamedTuple

from tqdm import tqdm

from tracking.config.errors import WorkerRefused
from tracking.config.train import TrainConfig
from tracking.data.datasets import load_dataset
from tracking.door.tracker import Tracker
from tracking.model.devices import visible_gpus, worker_gpu_env
from tracking.sweep.config import SweepConfig
from tracking.sweep.objective import Objective
from tracking.sweep.opening import StudyRun, load_study
from tracking.sweep.storage import open_sweep_storage
from tracking.sweep.trials import Deadline, finished, optimize, remaining

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


@dataclass(frozen=True)
class WorkerProcesses:
    """How a worker process is started: ``command`` reads a ``WorkerSpec``'s JSON on its
    standard input, in the environment ``env``."""

    command: tuple[str, ...]
    env: Mapping[str, str]

    @classmethod
    def of_module(cls, module: str, python_paths: Sequence[str]) -> WorkerProcesses:
        """``python -m module`` with this interpreter and this process's environment, with
        ``python_paths`` first on PYTHONPATH."""
        paths = [*python_paths, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        return cls((sys.executable, "-m", module), env)


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


def run_workers(run: StudyRun, processes: WorkerProcesses, deadline: Deadline) -> None:
    """Run ``sweep.workers`` worker processes on the study until it counts ``n_trials`` or the
    deadline passes; a worker that reached its quota or died is replaced while trials remain."""
    study, sweep = run.study, run.sweep
    env = run.tracker.without_launcher(processes.env)  # workers make child runs only

    def spec(index: int) -> str:
        left = deadline.left()
        quota = sweep.trials_per_process or None
        sweep_now = {**asdict(sweep), "timeout": 0.0 if left is None else max(left, 0.001)}
        parent = run.parent_run_id
        return WorkerSpec(asdict(run.base), sweep_now, index, parent, quota, os.getpid()).to_json()

    gpus = visible_gpus(sweep.gpus)  # worker i gets gpus[i % len(gpus)]; none: env unchanged

    def start(index: int) -> _Worker:
        return _Worker(
            index, processes.command, {**env, **worker_gpu_env(index, gpus)}, spec(index)
        )

    def needed() -> bool:
        return remaining(study, sweep) > 0 and not deadline.passed()

    if not needed():
        return
    workers = {i: start(i) for i in range(sweep.workers)}
    early_deaths = 0
    bar = tqdm(
        total=sweep.n_trials, initial=finished(study), desc=study.study_name, file=sys.stderr
    )
    try:
        while workers:
            time.sleep(0.5)
            if (n := finished(study)) != bar.n:
                bar.n = n
                bar.refresh()
            for index, worker in list(workers.items()):
                code = worker.process.poll()
                if code is None:
                    continue
                del workers[index]
                early_deaths = _ended(index, worker, code, early_deaths)
                if code != 130 and needed():  # replace it: a fresh process, same study
                    workers[index] = start(index)
        bar.n = finished(study)
    except BaseException as stop:  # Ctrl-C (SIGINT) or SIGTERM reaches each worker once
        signum = signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM
        for worker in workers.values():
            worker.signal(signum)
        for worker in workers.values():
            worker.wait(STOP_GRACE)
        raise
    finally:
        bar.close()


def _ended(index: int, worker: _Worker, code: int, early_deaths: int) -> int:
    """After worker ``index`` exited with ``code``: the workers' count of early deaths in a
    row. Raise WorkerRefused on its bad input (stop all), RuntimeError when workers keep dying."""
    worker.wait(5)
    if code == 2 and worker.errors:  # bad input or a missing monitor: stop all
        raise WorkerRefused(worker.errors[-1].removeprefix("error: "))
    if code not in (0, RECYCLE):
        log.warning("worker %d exited with status %d", index, code)
        lived = time.monotonic() - worker.started
        early_deaths = early_deaths + 1 if lived < 30 and code != 130 else 0
        if early_deaths >= MAX_EARLY_DEATHS:
            raise RuntimeError(f"workers keep dying (last status {code}); see above")
    return early_deaths


def run_worker(spec: WorkerSpec, *, tracker: Tracker) -> int:
    """In a worker process: trials of the study until it is done or this process's quota is
    reached; RECYCLE then (a fresh process takes over), else 0."""
    base, sweep = spec.configs()
    study = load_study(open_sweep_storage(sweep), sweep, tracker=tracker, worker=spec.worker + 1)
    dataset = load_dataset(base)
    objective = Objective(base, sweep, dataset, tracker=tracker, parent_run_id=spec.parent_run_id)
    timeout = sweep.timeout or None  # what is left of the study's timeout (WorkerSpec)
    # Counted now, after the seconds a worker takes to start: meanwhile the other workers may
    # have started the study's last trials (MaxTrialsCallback only counts after a trial).
    left = remaining(study, sweep)
    if not left:
        return 0
    cap = left if spec.max_trials is None else min(spec.max_trials, left)
    optimize(study, objective, sweep, max_trials=cap, timeout=timeout,
             label=f"worker {spec.worker}: ")  # fmt: skip
    quota_reached = spec.max_trials is not None and objective.trials_run >= spec.max_trials
    return RECYCLE if quota_reached and remaining(study, sweep) > 0 else 0
