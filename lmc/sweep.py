"""Sweeps: a chapter's grid of runs as independent jobs, run here or on a Slurm cluster.

``lmc sweep instability --model lenet_300_100 --rewind 0 100 500 --preset quick``
expands the grid of chapter 02 (chapter 03 with ``sweep schedule``) into one job per
rewind step k, initialization seed and schedule, and submits them through
`submitit <https://github.com/facebookincubator/submitit>`_: ``--executor local`` runs
them as processes on this machine, ``--executor slurm`` as a Slurm job array. Every job
calls ``instability.instability_analysis``, which goes through the run cache, so

- jobs are idempotent: a finished run is found, not recomputed, and a chapter or
  ``lmc run`` executed afterwards (with the same cache) only renders;
- jobs sharing a trunk wait on its lock instead of training it twice;
- a pre-empted or timed-out Slurm job is requeued (submitit checkpointing) and
  resumes from its runs' last resume points.

The cache (``LMC_CACHE_DIR``) and the data (``LMC_DATA_DIR``) must be on a file system
that every node sees; sbatch passes the submitting shell's environment to the jobs.
"""

from __future__ import annotations

import datetime
import re
import shutil
import time
from pathlib import Path

from submitit.helpers import Checkpointable

from .core import hparams, store
from .core.errors import ConfigError, LMCError, choose
from .experiments import instability

EXPERIMENTS = ("instability", "schedule")  # chapter 02's curve, chapter 03's two schedules
EXECUTORS = ("local", "slurm")


class InstabilityJob(Checkpointable):
    """One job of a sweep: the instability analysis of one configuration (one k, one seed).

    Slurm pre-emption calls ``checkpoint`` (inherited), which resubmits the job as it is:
    training state lives in the run cache, so the requeued job resumes where it stopped.
    """

    def __init__(self, config: instability.InstabilityConfig, device: str = "auto"):
        self.config = config
        self.device = device

    def __call__(self) -> dict:
        start = time.time()
        ds = instability.instability_analysis(self.config, self.device, progress=False)
        test = ds.instability.sel(split="test")
        return {"label": label(self.config), "test_instability": float(test.mean()),
                "seconds": time.time() - start}


def label(config: instability.InstabilityConfig) -> str:
    """A job's name in reports: k, seeds and schedule."""
    seeds = ",".join(map(str, config.init_seeds))
    return f"k={config.rewind_step} seed={seeds}" + (" schedule reset" if config.reset_schedule else "")


def jobs(experiment: str = "instability", model: str = "lenet_300_100", variant: str = "standard",
         rewind_steps=None, preset: str = "quick", init_seeds=None, pairs: int | None = None,
         n_alpha: int | None = None, reset_schedule: bool = False,
         device: str = "auto") -> list[InstabilityJob]:
    """The jobs of a chapter's grid: one per rewind step k, initialization seed and schedule.

    None takes the chapter's value for the preset (``instability.curve_configs``), so a
    sweep with defaults computes exactly the runs the chapter asks for. Everything is
    validated here, before anything is submitted.
    """
    choose("experiment", experiment, EXPERIMENTS)
    config, grid = instability.curve_configs(preset, model, variant, rewind_steps, init_seeds,
                                             pairs, n_alpha)[model]
    schedules = (False, True) if experiment == "schedule" else (reset_schedule,)
    hp = config.hparams
    iterations = [hparams.iterations(hp, k) for k in grid]
    if len(set(iterations)) != len(iterations):
        raise ConfigError(f"rewind steps {grid} name the same step twice; give each rewind step once")
    out = []
    for reset in schedules:
        for k, its in zip(grid, iterations, strict=True):
            if reset and its == 0 and len(schedules) == 2:
                continue  # from k = 0 the reset schedule is the same run as the default one
            for seed in config.init_seeds:
                c = instability.instability_config(model, variant, k, preset, [seed], config.pairs,
                                                   config.n_alpha, reset)
                out.append(InstabilityJob(c, device))
    return out


def minutes(text: str) -> int:
    """A Slurm time limit as minutes: ``"90"``, ``"4:00:00"`` or ``"1-12:00:00"``."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d\d):(\d\d)", str(text).strip())
    if str(text).strip().isdigit():
        value = int(text)
    elif m:
        d, h, mi, s = (int(g or 0) for g in m.groups())
        value = d * 1440 + h * 60 + mi + (s > 0)
    else:
        value = 0
    if value < 1:
        raise ConfigError(f"malformed time {text!r}; write minutes (90) or [days-]hours:minutes:"
                          f"seconds (4:00:00, 1-12:00:00)")
    return value


def executor_parameters(kind: str, time_limit: str = "4:00:00", partition: str | None = None,
                        gpus: int = 1, cpus: int = 4, array_parallelism: int = 1) -> dict:
    """The submitit parameters of a sweep's jobs (``AutoExecutor.update_parameters``)."""
    choose("executor", kind, EXECUTORS)
    for name, value in (("gpus", gpus), ("cpus", cpus), ("array_parallelism", array_parallelism)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (name == "gpus" and 0 or 1):
            raise ConfigError(f"{name} must be a {'non-negative' if name == 'gpus' else 'positive'} "
                              f"integer, got {value!r}; pass e.g. --{name.replace('_', '-')} 1")
    params = {"timeout_min": minutes(time_limit), "name": "lmc-sweep"}
    if kind == "slurm":
        params.update(gpus_per_node=gpus, cpus_per_task=cpus, slurm_array_parallelism=array_parallelism)
        if partition:
            params["slurm_partition"] = partition
    return params


def submit(sweep_jobs: list[InstabilityJob], kind: str = "local", folder: Path | None = None,
           array_parallelism: int = 1, **parameters):
    """Submit the jobs; returns submitit's Job handles (each with ``result()``).

    Local jobs run as processes on this machine, ``array_parallelism`` at a time (each
    wave waits for the one before); Slurm jobs go in one array. Job logs and pickles go to
    ``folder`` (default ``<cache>/sweeps/<time>``).
    """
    import submitit

    params = executor_parameters(kind, array_parallelism=array_parallelism, **parameters)
    if kind == "slurm" and shutil.which("sbatch") is None:
        raise LMCError("--executor slurm needs sbatch, which is not on this machine; run the "
                       "sweep on the cluster's login node, or use --executor local")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(folder or store.cache_dir() / "sweeps" / stamp)
    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    executor.update_parameters(**params)
    if kind == "slurm":
        with executor.batch():
            handles = [executor.submit(job) for job in sweep_jobs]
        return handles
    handles = []
    for start in range(0, len(sweep_jobs), array_parallelism):
        wave = [executor.submit(job) for job in sweep_jobs[start:start + array_parallelism]]
        for handle in wave:
            handle.wait()
        handles += wave
    return handles


def report(sweep_jobs: list[InstabilityJob], handles) -> list[str]:
    """One line per finished job; an LMCError naming the logs if any job failed."""
    lines, failed = [], []
    for job, handle in zip(sweep_jobs, handles, strict=True):
        try:
            r = handle.result()
            lines.append(f"{r['label']}: test instability {r['test_instability']:.2f} pp "
                         f"({r['seconds']:.0f} s)")
        except Exception:  # noqa: BLE001 -- submitit re-raises the job's error with its traceback
            failed.append(f"{label(job.config)} (log {handle.paths.stderr})")
    if failed:
        raise LMCError(f"{len(failed)} of {len(handles)} jobs failed: {'; '.join(failed)}; read the "
                       f"logs, fix the cause and run the same sweep again (finished runs are reused)")
    return lines


def dry_run(sweep_jobs: list[InstabilityJob], kind: str, **parameters) -> list[str]:
    """What a sweep would submit: the executor parameters and one line per job."""
    params = executor_parameters(kind, **parameters)
    head = f"{len(sweep_jobs)} jobs, executor {kind}: " + ", ".join(f"{k}={v}" for k, v in params.items())
    return [head] + [f"  {label(job.config)}" for job in sweep_jobs]
