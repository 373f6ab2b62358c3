"""Child processes, a few at a time, each with an equal share of the CPU cores.

``lmc book --jobs``, ``lmc archive compute --jobs`` and ``lmc search-standin --jobs`` run their
work items as separate Python processes so that each torch trains with cores / jobs threads (on
2 cores two 1-thread LeNet trainings do 1.44× the steps of one 2-thread training, the stand-in
1.55×; ``benchmarks/parallel_jobs.py``). This is the one place that starts and watches them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_job(jobs: int) -> int:
    """Torch threads each of ``jobs`` children gets: cores / jobs, at least one."""
    return max(1, cores() // jobs)


def run(tasks: Iterable[tuple[object, list[str], Path]], jobs: int,
        on_start: Callable[[object, int, Path], None] | None = None,
        poll: float = 0.5) -> Iterator[tuple[object, float, int, Path]]:
    """Run each task ``(key, arguments to python, log file)`` as ``python <arguments>``, ``jobs`` at a
    time; yields ``(key, seconds, exit code, log file)`` as each finishes. Children import this
    checkout's ``lmc`` (its folder leads PYTHONPATH) and get ``threads_per_job(jobs)`` threads;
    ``on_start(key, threads, log)`` is called as each starts."""
    threads = threads_per_job(jobs)
    package = str(Path(__file__).resolve().parents[2])  # the folder holding lmc/
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([package, *filter(None, [os.environ.get("PYTHONPATH")])])}
    waiting, running = list(tasks), {}
    while waiting or running:
        while waiting and len(running) < jobs:
            key, arguments, log_path = waiting.pop(0)
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            log = open(log_path, "w")
            if on_start is not None:
                on_start(key, threads, Path(log_path))
            child = subprocess.Popen([sys.executable, *arguments], env=env, stdout=log, stderr=subprocess.STDOUT)
            running[id(child)] = (key, child, log, time.time())
        time.sleep(poll)
        for ident, (key, child, log, start) in list(running.items()):
            if child.poll() is None:
                continue
            log.close()
            del running[ident]
            yield key, time.time() - start, child.returncode, Path(log.name)
