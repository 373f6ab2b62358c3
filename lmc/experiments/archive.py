"""The paper-protocol archive: Table 1's exact protocol computed in shards, across sessions.

A ``paper`` sweep of LeNet-300-100 takes hours on a CPU, more than one session. It is cut
into *shards*: result files complete on their own, one per initialization (chapters 01 and
04) or per rewind step k and initialization (chapters 02, 03 and 05), each holding all the
data-order pairs of its initialization::

    results/paper/<chapter>/<model>_<variant>/init0.nc          chapters 01, 04
    results/paper/<chapter>/<model>_<variant>/k500_init0.nc     chapters 02, 03, 05

:func:`compute` computes one shard with the experiment function the chapter calls
(restricted to its initialization) and saves it with its wall and CPU time; a shard whose
file exists and reads is never recomputed. :func:`combine` puts a chapter's shards back
together (``xr.concat`` along ``init_seed``, then ``rewind_step``) with every shard's
provenance. ``lmc status`` lists the shards that exist and, for each missing one, the
command that computes it; ``lmc archive compute --chapter 01 --jobs 2`` computes the missing
ones, one process per core with one torch thread each, saving (and with ``--commit``
committing) each as soon as it is done. Chapters 01 and 04 show the archived result beside
their own (:func:`beside`); the status table reads it (``lmc.report.status``).
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..core import hparams, interpolate, paths, processes, results, store
from ..core.errors import ConfigError, LMCError
from ..core.processes import cores
from ..paper import presets, reported
from . import instability, sparse, tables

# The chapters the archive covers, by number (their notebooks' stems); the curve chapters
# have one shard per rewind step k and initialization, the others one per initialization.
CHAPTERS = {
    "01": "01_instability_at_init",
    "02": "02_instability_during_training",
    "03": "03_training_time_or_schedule",
    "04": "04_lottery_tickets_at_init",
    "05": "05_rewinding",
}
MODELS = ("lenet_300_100",)  # the one Table 1 network whose exact protocol runs on a CPU
PRESET = "paper"
NOT_YET = "not archived yet"


def chapter_number(chapter: str) -> str:
    """The two-character number of a chapter given as "01" or "01_instability_at_init"."""
    number = str(chapter)[:2]
    if number not in CHAPTERS or str(chapter) not in (number, CHAPTERS[number]):
        raise ConfigError(f"the archive has no chapter {chapter!r}; valid: {', '.join(CHAPTERS)} "
                          f"({', '.join(CHAPTERS.values())})")
    return number


@dataclass(frozen=True)
class Shard:
    """One self-contained result file of the archive: one initialization of one chapter's
    network, all its data-order pairs, at one rewind step k for the curve chapters."""

    chapter: str                  # the chapter's stem, "01_instability_at_init"
    model: str                    # a Table 1 network, "lenet_300_100"
    variant: str = "standard"     # its Table 1 variant
    preset: str = PRESET          # the protocol (lmc.paper.presets)
    init_seed: int = 0            # the initialization
    rewind_step: str | None = None  # k, for chapters 02, 03 and 05 (None: 01 and 04, k = 0)
    results_dir: str = "results"  # the archive's root

    @property
    def number(self) -> str:
        return self.chapter[:2]

    @property
    def name(self) -> str:
        """The file name without ``.nc``: ``init0`` or ``k500_init0``."""
        k = "" if self.rewind_step is None else f"k{re.sub(r'[^A-Za-z0-9]+', '', str(self.rewind_step))}_"
        return f"{k}init{self.init_seed}"

    @property
    def folder(self) -> Path:
        return paths.shard_folder(self.results_dir, self.preset, self.chapter, self.model, self.variant)

    @property
    def path(self) -> Path:
        """``<results_dir>/<preset>/<chapter>/<model>_<variant>/<name>.nc``."""
        return self.folder / f"{self.name}.nc"

    @property
    def command(self) -> str:
        """The ``lmc archive compute`` call that computes this shard alone."""
        return _command(self.number, self.model, self.variant, self.preset, self.results_dir) + \
            f" --init-seed {self.init_seed}" + ("" if self.rewind_step is None else f" --rewind {self.rewind_step}")


def _command(number: str, model: str, variant: str, preset: str, results_dir, jobs: int | None = None) -> str:
    """``lmc archive compute`` for a chapter's network, with the options that differ from the defaults."""
    return (f"lmc archive compute --chapter {number} --model {model}"
            + (f" --variant {variant}" if variant != "standard" else "")
            + (f" --preset {preset}" if preset != PRESET else "")
            + (f" --results-dir {results_dir}" if str(results_dir) != "results" else "")
            + (f" --jobs {jobs}" if jobs else ""))


def chapter_command(chapter: str, model: str = "lenet_300_100", variant: str = "standard",
                    preset: str = PRESET, results_dir="results", jobs: int | None = None) -> str:
    """The command that computes every missing shard of a chapter's network, ``jobs`` at a time
    (default: one per CPU core of this machine)."""
    return _command(chapter_number(chapter), model, variant, preset, results_dir, jobs or cores())


def plan(chapter: str, model: str = "lenet_300_100", preset: str = PRESET, variant: str = "standard",
         results_dir="results") -> list[Shard]:
    """Every shard of a chapter's network under ``preset`` (the paper's protocol by default):
    one per initialization (01; 04 at k = 0 with every subnetwork, both random-pruning rules),
    or one per rewind step of the preset's k grid and initialization (02, 03, 05: for LeNet the
    paper's grid, ``presets.PAPER_GRID``), k outermost so that neighbours share no trunk."""
    number = chapter_number(chapter)
    size = presets.get(preset)
    reported.setting(model, variant)
    if number == "01":
        seeds, grid = list(instability.instability_config(model, variant, 0, preset).init_seeds), [None]
    elif number in ("02", "03"):
        sizes = size.curve(model)
        seeds, grid = sizes["init_seeds"], sizes["rewind_steps"]
    else:
        sizes = sparse.sparse_plan(preset, model, variant)[model]
        seeds = list(sizes["config"].init_seeds)
        grid = [None] if number == "04" else sizes["rewind_steps"]
    return [Shard(CHAPTERS[number], model, variant, preset, int(i), None if k is None else str(k), str(results_dir))
            for k in grid for i in seeds]


def readable(shard: Shard) -> bool:
    """Whether the shard's file exists, reads, and holds its initialization."""
    if not shard.path.exists():
        return False
    try:
        ds = results.load(shard.path)
        return [int(s) for s in np.atleast_1d(ds.init_seed.values)] == [shard.init_seed]
    except Exception:
        return False


def missing(chapter: str, model: str = "lenet_300_100", preset: str = PRESET, variant: str = "standard",
            results_dir="results") -> list[Shard]:
    """The shards of a chapter's network whose files are absent (or unreadable)."""
    return [s for s in plan(chapter, model, preset, variant, results_dir) if not readable(s)]


def present(chapter: str, model: str = "lenet_300_100", preset: str = PRESET, variant: str = "standard",
            results_dir="results") -> list[Shard]:
    """The shards of a chapter's network that are archived."""
    return [s for s in plan(chapter, model, preset, variant, results_dir) if readable(s)]


def _experiment(shard: Shard, device: str, progress: bool) -> xr.Dataset:
    """The chapter's experiment restricted to the shard's initialization (the preset's pairs and α)."""
    number, seeds = shard.number, [shard.init_seed]
    if number == "01":
        config = instability.instability_config(shard.model, shard.variant, 0, shard.preset, init_seeds=seeds)
        return instability.instability_analysis(config, device=device, progress=progress)
    if number in ("02", "03"):
        config = instability.instability_config(shard.model, shard.variant, shard.rewind_step, shard.preset,
                                                init_seeds=seeds)
        run = instability.instability_curve if number == "02" else instability.schedule_comparison
        return run(config, [shard.rewind_step], device=device, progress=progress)
    k = "0" if shard.rewind_step is None else shard.rewind_step
    plan = sparse.sparse_plan(shard.preset, shard.model, shard.variant, None, [k], seeds)[shard.model]
    if number == "04":
        return sparse.sparse_instability(plan["config"], plan["levels"], sparse.KNOWN_SUBNETWORKS,
                                         device=device, progress=progress)
    return sparse.sparse_curve(plan["config"], plan["levels"], [k], device=device, progress=progress)


def compute(shard: Shard, device: str = "auto", progress: bool = False) -> Path:
    """The shard's file, computed and saved (``results.save``) unless it exists and reads.

    Adds to the result's attributes the seconds it took (``wall_seconds``, and
    ``cpu_seconds``: this process's CPU time, all torch threads), the shard's name and its
    command. A file that does not read (cut off while written by another tool) is kept
    beside it as ``<name>.unreadable-<time>.nc`` and the shard computed again.
    """
    if readable(shard):
        return shard.path
    wall, cpu = time.time(), time.process_time()
    ds = _experiment(shard, device, progress)
    ds.attrs.update(wall_seconds=round(time.time() - wall, 3), cpu_seconds=round(time.process_time() - cpu, 3),
                    shard=shard.name, shard_command=shard.command)
    if shard.path.exists():
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        shard.path.rename(shard.path.with_name(f"{shard.name}.unreadable-{when}.nc"))
    return results.save(ds, shard.path)


# configuration entries that differ between the shards of one chapter by design
_PER_SHARD = ("init_seeds", "rewind_step", "rewind_steps", "rewind_iterations", "population", "evaluation", "accel")


def _same_protocol(config: dict) -> dict:
    return {**{k: v for k, v in config.items() if k not in _PER_SHARD},
            "precision": (config.get("accel") or {}).get("bf16", False)}


def combine(shards: list[Shard]) -> xr.Dataset:
    """The chapter's result from its shards: concatenated along ``init_seed`` (and, for the
    curve chapters, ``rewind_step``, sorted), with the first shard's provenance, the
    configuration naming every initialization and k, and ``shards``: each shard's file, date,
    machine (``cpu``, ``cpu_capability``, ``torch_threads``, ``device``) and seconds, as JSON;
    ``cpu_seconds_total`` and ``wall_seconds_total`` add them up. A k that lacks an
    initialization another k has is NaN there. Shards of another protocol are refused."""
    if not shards:
        raise ConfigError("combine needs at least one shard; `lmc status` lists the archived ones")
    loaded = [(s, results.load(s.path)) for s in shards]
    first = results.config_of(loaded[0][1])
    for shard, ds in loaded[1:]:
        if _same_protocol(results.config_of(ds)) != _same_protocol(first):
            raise LMCError(f"{shard.path} was computed with another configuration than {loaded[0][0].path} "
                           f"(config {ds.attrs.get('config_hash')} against {loaded[0][1].attrs.get('config_hash')}); "
                           f"move the one that is out of date away and run `lmc status`")
    groups: dict = {}
    for shard, ds in sorted(loaded, key=lambda p: p[0].init_seed):
        groups.setdefault(shard.rewind_step, []).append(ds.drop_attrs())
    parts = [xr.concat(g, dim="init_seed") if len(g) > 1 else g[0] for g in groups.values()]
    curve = "rewind_step" in parts[0].dims
    # join="outer": a k that lacks an initialization another k has is NaN there (xarray's default until
    # it changes to "exact", which would refuse the partly computed archive)
    ds = (xr.concat(parts, dim="rewind_step", join="outer").sortby("rewind_step") if curve and len(parts) > 1 else parts[0])
    config = dict(first)
    config["init_seeds"] = sorted({int(s) for s in ds.init_seed.values})
    if curve:
        config["rewind_steps"] = [str(k) for k in ds.rewind_label.values]
    entries = []
    for shard, part in loaded:
        a = part.attrs
        entries.append({"file": shard.path.name, "created": a.get("created", ""), "cpu": a.get("cpu", ""),
                        "cpu_capability": a.get("cpu_capability", ""), "torch_threads": _plain(a.get("torch_threads", "")),
                        "device": a.get("device", ""), "wall_seconds": float(a.get("wall_seconds", np.nan)),
                        "cpu_seconds": float(a.get("cpu_seconds", np.nan))})
    dates = sorted(e["created"] for e in entries if e["created"])
    attrs = {k: v for k, v in loaded[0][1].attrs.items() if k not in ("wall_seconds", "cpu_seconds", "shard",
                                                                      "shard_command")}
    attrs.update(config=store.canonical(config), config_hash=store.config_hash(config),
                 shards=json.dumps(entries), cpu=", ".join(dict.fromkeys(e["cpu"] for e in entries)),
                 cpu_seconds_total=float(np.nansum([e["cpu_seconds"] for e in entries])),
                 wall_seconds_total=float(np.nansum([e["wall_seconds"] for e in entries])),
                 created=dates[-1] if dates else "", created_first=dates[0] if dates else "")
    ds.attrs = attrs
    return ds


def _plain(value):
    """A netCDF attribute as a plain Python value (numpy scalars become int or float)."""
    return value.item() if isinstance(value, np.generic) else value


def load(chapter: str, model: str = "lenet_300_100", preset: str = PRESET, variant: str = "standard",
         results_dir="results") -> xr.Dataset | None:
    """The archived result of a chapter's network (:func:`combine` of its shards), None if none."""
    found = present(chapter, model, preset, variant, results_dir)
    return combine(found) if found else None


def load_folder(folder: Path) -> xr.Dataset:
    """The combined result of a shard folder ``<results>/<preset>/<chapter>/<model>_<variant>/``
    (what ``lmc.report.status`` finds); the chapter, network and preset are read off the path."""
    folder = Path(folder)
    preset, chapter = folder.parent.parent.name, folder.parent.name
    model, _, variant = folder.name.rpartition("_")
    shards = [s for s in plan(chapter, model, preset, variant, folder.parent.parent.parent) if readable(s)]
    if not shards:
        raise LMCError(f"no readable shard in {folder}")
    return combine(shards)


# ---- what was archived, and what is missing -----------------------------------------------------------

def _hours(seconds: float) -> str:
    if not seconds == seconds:
        return "not recorded"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def status(results_dir="results", preset: str = PRESET, chapters=None, models=MODELS,
           variant: str = "standard") -> list[dict]:
    """One row per shard of every chapter (default all of :data:`CHAPTERS`) and network:
    ``chapter``, ``model``, ``shard``, ``path``, ``present``, and for a present shard its
    ``created``, ``cpu``, ``wall_seconds`` and ``cpu_seconds``, for a missing one its ``command``."""
    rows = []
    for number in [chapter_number(c) for c in (chapters or CHAPTERS)]:
        for model in models:
            for shard in plan(number, model, preset, variant, results_dir):
                row = {"chapter": shard.chapter, "model": model, "variant": variant, "shard": shard.name,
                       "path": shard.path, "present": readable(shard), "command": shard.command}
                if row["present"]:
                    a = results.attributes(shard.path)
                    row.update(created=a.get("created", ""), cpu=a.get("cpu", ""),
                               cpu_capability=a.get("cpu_capability", ""), torch_threads=a.get("torch_threads", ""),
                               wall_seconds=float(a.get("wall_seconds", np.nan)),
                               cpu_seconds=float(a.get("cpu_seconds", np.nan)))
                rows.append(row)
    return rows


def status_text(results_dir="results", preset: str = PRESET, chapters=None, models=MODELS,
                variant: str = "standard") -> str:
    """:func:`status` as the text ``lmc status`` prints: per chapter and network, the shards
    that exist (date, machine, time) and the command for each missing one."""
    rows = status(results_dir, preset, chapters, models, variant)
    lines = [f"`{preset}` archive in {Path(results_dir) / preset} (one shard: one initialization, all its pairs)"]
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["chapter"], row["model"]), []).append(row)
    for (chapter, model), group in groups.items():
        done = [r for r in group if r["present"]]
        cost = (f"; all of them about {cpu_hours(chapter, model, preset):.1f} CPU hours from an empty run "
                f"cache (at {STEPS_PER_SECOND[model]:.0f} steps/s a core)" if model in STEPS_PER_SECOND else "")
        measured = (f"; the {len(done)} computed took {np.nansum([r['cpu_seconds'] for r in done]) / 3600:.2f} "
                    f"CPU hours ({np.nansum([r['wall_seconds'] for r in done]) / 3600:.2f} h wall, shards added up)"
                    if done else "")
        lines.append(f"\n{chapter}  {model}_{variant}: {len(done)} of {len(group)} shards{cost}{measured}")
        for r in done:
            lines.append(f"  present  {r['shard']:<12} {r['created'][:10]}  {r['cpu']} ({r['cpu_capability']}, "
                         f"{r['torch_threads']} thread{'s' * (str(r['torch_threads']) != '1')})  {_hours(r['wall_seconds'])}")
        absent = [r for r in group if not r["present"]]
        for r in absent:
            lines.append(f"  missing  {r['shard']:<12} {r['command']}")
        if len(absent) > 1:
            lines.append(f"  all missing, one process per core:  "
                         f"{chapter_command(chapter, model, variant, preset, results_dir)}")
    return "\n".join(lines)


# ---- computing the missing shards, one process per core -----------------------------------------------

def _commit(path: Path, message: str) -> None:
    """Commit one shard file (and nothing else) to the git repository it is in."""
    folder = Path(path).resolve().parent
    for command in (["git", "add", "--", str(Path(path).resolve())],
                    ["git", "commit", "-q", "-m", message, "--", str(Path(path).resolve())]):
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
        if done.returncode:
            raise LMCError(f"could not commit {path}: {' '.join(command[:2])} said {done.stderr.strip() or done.stdout.strip()}")


def _commit_or_say(shard: Shard, log) -> None:
    """Commit a finished shard; if git refuses (another commit holding the index, say), say so and
    go on: the shard is saved, and ``git add`` + ``git commit`` of its file can follow by hand."""
    try:
        _commit(shard.path, _done_message(shard))
    except LMCError as e:
        log(f"  {shard.name} saved but not committed: {e}")


def _done_message(shard: Shard) -> str:
    a = results.attributes(shard.path)
    return (f"results/{shard.preset}: {shard.chapter} {shard.model}_{shard.variant} {shard.name} "
            f"({_hours(float(a.get('wall_seconds', np.nan)))} on {a.get('cpu', '?')}, "
            f"{a.get('torch_threads', '?')} threads)")


def compute_missing(chapter: str, model: str = "lenet_300_100", variant: str = "standard", preset: str = PRESET,
                    results_dir="results", jobs: int = 1, device: str = "cpu", init_seeds=None, rewind_steps=None,
                    commit: bool = False, log=print, progress: bool = False) -> list[Shard]:
    """Compute the missing shards of a chapter's network (those of ``init_seeds`` and
    ``rewind_steps`` only, if given), each saved (and with ``commit`` committed to git) as
    soon as it is done; returns the shards that were missing.

    ``jobs`` 1 computes them here, one after another. More start that many child processes
    at a time (``lmc archive compute ... --init-seed i``), each with cores / ``jobs`` torch
    threads (1 with one job per core: two 1-thread LeNet trainings do 1.44× the steps of one
    2-thread training on 2 cores, ``benchmarks/parallel_jobs.py``); a child's output goes to
    ``<cache>/archive-logs/<chapter>/<shard>.log``. A failed shard leaves the others running.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer ≥ 1 (shards computed at once), got {jobs!r}")
    todo = [s for s in missing(chapter, model, preset, variant, results_dir)
            if (init_seeds is None or s.init_seed in init_seeds)
            and (rewind_steps is None or s.rewind_step in [str(k) for k in rewind_steps])]
    if init_seeds is not None or rewind_steps is not None:
        known = plan(chapter, model, preset, variant, results_dir)
        if not any((init_seeds is None or s.init_seed in init_seeds)
                   and (rewind_steps is None or s.rewind_step in [str(k) for k in rewind_steps]) for s in known):
            raise ConfigError(f"no shard of chapter {chapter} has init seed {init_seeds} and rewind step "
                              f"{rewind_steps}; `lmc status --chapters {chapter_number(chapter)}` lists them")
    log(f"{CHAPTERS[chapter_number(chapter)]} {model}_{variant}: {len(todo)} shard(s) to compute"
        + (f", {jobs} at a time" if jobs > 1 and len(todo) > 1 else ""))
    failed = []
    if jobs == 1:
        for shard in todo:
            start = time.time()
            log(f"computing {shard.name} ...")
            compute(shard, device, progress)
            log(f"  {shard.name} done in {_hours(time.time() - start)}: {shard.path}")
            if commit:
                _commit_or_say(shard, log)
        return todo
    logs = store.cache_dir() / "archive-logs" / CHAPTERS[chapter_number(chapter)]
    tasks = []
    for shard in todo:
        args = ["-m", "lmc.cli", "archive", "compute", "--chapter", shard.number, "--model", shard.model,
                "--variant", shard.variant, "--preset", shard.preset, "--results-dir", str(shard.results_dir),
                "--init-seed", str(shard.init_seed), "--device", device, "--jobs", "1"]
        if shard.rewind_step is not None:
            args += ["--rewind", shard.rewind_step]
        tasks.append((shard, args, logs / f"{shard.model}_{shard.variant}_{shard.name}.log"))

    def started(shard, threads, out):
        log(f"computing {shard.name} ({threads} thread(s); log {out}) ...")

    for shard, seconds, code, out in processes.run(tasks, jobs, started, poll=1.0):
        if code or not readable(shard):
            failed.append(f"{shard.name} (exit {code}; see {out})")
            log(f"  {shard.name} FAILED: exit {code}; its output is {out}")
            continue
        log(f"  {shard.name} done in {_hours(seconds)}: {shard.path}")
        if commit:
            _commit_or_say(shard, log)
    if failed:
        raise LMCError(f"{len(failed)} shard(s) failed: {'; '.join(failed)}; the others are saved")
    return todo


# ---- cost: training steps a chapter's shards take from an empty run cache --------------------------

# One process per core, one torch thread each, on the project's idle 2-core machine (AMD EPYC,
# AVX2): LeNet-300-100 at batch 60 through lmc's loop, 629.6 steps/s for two 1-thread processes
# together on 2026-12-02 (benchmarks/README.md, parallel_jobs.py), i.e. 315 each. A 30-α path over
# all 70,000 MNIST examples: 0.46 s per 10,000 test images on 2 threads (benchmarks/README.md),
# so about 3.2 s on 2 threads and 5 s on one. Measured again through `lmc.core.train` on 2026-12-02
# while another job loaded both cores (load average 5): 56 steps/s and 20 s a path, a sixth
# and a quarter of the idle rates, so these estimates hold only on an idle machine.
STEPS_PER_SECOND = {"lenet_300_100": 315.0}
PATH_SECONDS = {"lenet_300_100": 5.0}


def training_steps(chapter: str, model: str = "lenet_300_100", preset: str = PRESET,
                   variant: str = "standard") -> dict:
    """What a chapter's shards compute from an empty run cache: ``steps`` (SGD iterations,
    each run counted once within the chapter) and ``paths`` (interpolations of 30 α or the
    preset's). Runs shared with another chapter (chapter 01's dense copies are chapter 04's)
    count in both."""
    number = chapter_number(chapter)
    config = instability.instability_config(model, variant, 0, preset)
    hp = config.hparams
    T = hparams.total_steps(hp)
    pairs, shards = config.pairs, plan(number, model, preset, variant)
    seeds = sorted({s.init_seed for s in shards})
    ks = sorted({hparams.iterations(hp, s.rewind_step) for s in shards if s.rewind_step is not None})
    if number == "01":
        return {"steps": len(seeds) * pairs * 2 * T, "paths": len(seeds) * pairs}
    if number in ("02", "03"):
        steps = len(seeds) * (max(ks) + sum(pairs * 2 * (T - k) for k in ks))
        n_paths = len(seeds) * len(ks) * pairs
        if number == "03":  # Figure 4's copies train T steps from k, schedule restarted
            steps, n_paths = steps + len(seeds) * len(ks) * pairs * 2 * T, 2 * n_paths
        return {"steps": steps, "paths": n_paths}
    levels = sparse.sparse_plan(preset, model, variant)[model]["levels"]
    if number == "04":  # trunk to T, levels - 1 IMP retrainings, every subnetwork's pairs
        n = len(sparse.KNOWN_SUBNETWORKS)
        return {"steps": len(seeds) * (T + (levels - 1) * T + n * pairs * 2 * T), "paths": len(seeds) * n * pairs}
    n = len(sparse.SUBNETWORKS)
    return {"steps": len(seeds) * (T + sum(((levels - 1) + n * pairs * 2) * (T - k) for k in ks)),
            "paths": len(seeds) * len(ks) * n * pairs}


def cpu_hours(chapter: str, model: str = "lenet_300_100", preset: str = PRESET,
              steps_per_second: float | None = None, path_seconds: float | None = None) -> float:
    """Estimated CPU hours (one thread) of a chapter's shards from an empty run cache:
    :func:`training_steps` at ``steps_per_second`` plus its paths at ``path_seconds`` each
    (defaults: :data:`STEPS_PER_SECOND`, :data:`PATH_SECONDS`)."""
    cost = training_steps(chapter, model, preset)
    rate = steps_per_second or STEPS_PER_SECOND[model]
    path = PATH_SECONDS[model] if path_seconds is None else path_seconds
    return (cost["steps"] / rate + cost["paths"] * path) / 3600


# ---- the archived result beside a chapter's own ------------------------------------------------------

def _schedule(config: dict) -> str:
    note = reported.schedule_note(config)
    T = config.get("training_iterations")
    return f"Table 1's {T:,} iterations" if note.startswith("Table 1's") and T else note


def protocol(ds: xr.Dataset) -> str:
    """How a result was computed, in words: "Table 1's 24,000 iterations, 3 initializations ×
    3 pairs, 30 α"."""
    config = results.config_of(ds)
    n_init, pairs = ds.sizes.get("init_seed", 1), ds.sizes.get("pair", 1)
    return (f"{_schedule(config)}, {n_init} initialization{'s' * (n_init != 1)} × {pairs} "
            f"pair{'s' * (pairs != 1)}, {ds.sizes.get('alpha', config.get('n_alpha'))} α")


def provenance_note(ds: xr.Dataset) -> dict[str, str]:
    """When, where and how long an archived result took, as text: ``dates``, ``machine`` and ``time``."""
    shards = json.loads(ds.attrs.get("shards", "[]"))
    dates = sorted({e["created"][:10] for e in shards if e["created"]})
    machines = sorted({f"{e['cpu']} ({e['cpu_capability']}, {e['torch_threads']} thread"
                       f"{'s' * (str(e['torch_threads']) != '1')})" for e in shards})
    total = float(ds.attrs.get("cpu_seconds_total", np.nan))
    wall = float(ds.attrs.get("wall_seconds_total", np.nan))
    return {"dates": dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else "undated",
            "machine": "; ".join(machines) or "not recorded",
            "time": f"{_hours(total)} of CPU time ({_hours(wall)} wall, {len(shards)} shard"
                    f"{'s' * (len(shards) != 1)})"}


def _label(ds: xr.Dataset) -> str:
    note = provenance_note(ds)
    return f"{protocol(ds)}; computed {note['dates']} on {note['machine']}, {note['time']}"


def beside(chapter: str, model: str = "lenet_300_100", variant: str = "standard", results_dir="results",
           preset: str = PRESET, ours: xr.Dataset | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The archived ``preset`` result of a chapter's network beside this build's (``ours``), as
    (table, text to glue): chapter 01 the test and train instability and accuracy (mean ± std
    over all pairs); chapter 02 the instability at every archived k and the first stable k;
    chapter 03 both schedules at every archived k; chapter 04 Table 2's row with both
    random-pruning rules. The table's rows are the archived result, ours and the paper's (for
    02 and 03 one row per k); the glued texts (``archive_*``) say the protocol, dates, machine
    and time, or that nothing is archived yet, with the table listing the command for each
    missing shard."""
    number = chapter_number(chapter)
    if number not in BESIDE:
        raise ConfigError(f"beside() shows chapters {', '.join(BESIDE)}, not {chapter!r}")
    archived = load(number, model, preset, variant, results_dir)
    absent = missing(number, model, preset, variant, results_dir)
    total = len(plan(number, model, preset, variant, results_dir))
    quoted = {f"archive_{k}": NOT_YET for k in BESIDE[number]}
    if archived is None:
        quoted["archive_label"] = (f"no {preset}-protocol result archived yet ({total} shards to compute; the "
                                   f"table gives the command for each)")
        quoted["archive_result"] = "nothing to show until it is computed"
        quoted["archive_verdict"] = "No verdict until it is computed."
        rows = [{"shard": s.name, "command": s.command} for s in absent]
        rows.append({"shard": f"all {len(absent)}, one process per core",
                     "command": chapter_command(number, model, variant, preset, results_dir)})
        return pd.DataFrame(rows).set_index("shard"), quoted
    quoted["archive_label"] = _label(archived) + (
        "" if not absent else f"; {len(absent)} of {total} shards still missing (lmc status lists them)")
    setting = reported.setting(model, variant)
    if number in ("02", "03"):
        partial = "" if not absent else f" (on the {archived.sizes['rewind_step']} k archived so far)"
        table, found = (_curve_rows if number == "02" else _schedule_rows)(archived, ours, setting, preset)
        quoted.update(found)
        quoted["archive_verdict"] = quoted["archive_verdict"].rstrip(".") + partial + "."
        return table, quoted
    if number == "01":
        table = _instability_rows(archived, ours, setting, preset)
        test = archived.instability.sel(split="test")
        bound = setting.instability_at_init
        accuracy = 100 - tables.endpoint_error(archived).sel(split="test")
        quoted.update(archive_test_instability=_unit(results.mean_std(test), " pp"),
                      archive_train_instability=_unit(results.mean_std(archived.instability.sel(split="train")), " pp"),
                      archive_test_accuracy=_unit(results.mean_std(accuracy, unit="copy"), "%"),
                      archive_verdict=_bound_verdict(test, bound))
        quoted["archive_result"] = (f"test instability {quoted['archive_test_instability']} (train: "
                                    f"{quoted['archive_train_instability']}), test accuracy "
                                    f"{quoted['archive_test_accuracy']}")
        return table, quoted
    table = _table2_rows(archived, ours, preset)
    row = tables.table2(archived).loc["ours"]
    quoted.update({"archive_density": f"{row['density (%)']:.1f}%", "archive_full": _unit(row["dense (%)"], "%"),
                   "archive_imp": _unit(row["imp (%)"], "%"), "archive_random_prune": _unit(row["random_prune (%)"], "%"),
                   "archive_random_prune_global": _unit(str(row.get("random_prune_global (%)", NOT_YET)), "%"),
                   "archive_random_reinit": _unit(row["random_reinit (%)"], "%"),
                   "archive_delta": f"{row['Δ IMP (pp)']:.2f} pp",
                   "archive_matching": "matching" if row["matching (1 std)"] else "not matching",
                   "archive_inst_imp": f"{row['instability imp (pp)']:.2f} pp",
                   "archive_inst_prune": f"{row['instability random_prune (pp)']:.2f} pp",
                   "archive_inst_prune_global": f"{row.get('instability random_prune_global (pp)', np.nan):.2f} pp",
                   "archive_inst_reinit": f"{row['instability random_reinit (pp)']:.2f} pp",
                   "archive_verdict": _sentence(tables.table2_verdict(archived))})
    q = quoted
    q["archive_result"] = (f"at {q['archive_density']} density IMP {q['archive_imp']} against the full network's "
                           f"{q['archive_full']} (Δ = {q['archive_delta']}, {q['archive_matching']}); random pruning "
                           f"{q['archive_random_prune']} (global: {q['archive_random_prune_global']}), random "
                           f"reinitialization {q['archive_random_reinit']}; test instability {q['archive_inst_imp']} "
                           f"(IMP), {q['archive_inst_prune']} and {q['archive_inst_prune_global']} (random pruning, "
                           f"layerwise and global), {q['archive_inst_reinit']} (random reinitialization)")
    return table, quoted


# What beside() glues for each chapter (``archive_<key>``), besides its label, result and verdict.
BESIDE = {"01": ("test_instability", "train_instability", "test_accuracy"),
          "02": ("k0", "stable_from", "grid"),
          "03": ("largest_difference", "spread"),
          "04": ("density", "full", "imp", "random_prune", "random_prune_global", "random_reinit", "delta",
                 "matching", "inst_imp", "inst_prune", "inst_prune_global", "inst_reinit")}


def _drawn(values: xr.DataArray) -> np.ndarray:
    """The draws of a mean ± std (every initialization and pair), without the NaN of a k that
    lacks an initialization."""
    flat = np.asarray(values).ravel()
    return flat[~np.isnan(flat)]


def _at_k(ds: xr.Dataset | None, label: str, split: str = "test", **sel) -> str:
    """mean ± std of ``ds``'s instability at the rewind step labelled ``label``, or why not."""
    if ds is None or "rewind_label" not in ds.coords or label not in ds.rewind_label.values.tolist():
        return "not in this build's grid"
    k = ds.rewind_step.values[ds.rewind_label.values.tolist().index(label)]
    return results.mean_std(_drawn(ds.instability.sel(split=split, rewind_step=k, **sel)))


def _curve_rows(archived: xr.Dataset, ours, setting: reported.Setting, preset: str):
    """Chapter 02: the archived test and train instability at every k beside this build's,
    and the first k from which the archived mean stays below 2 pp against the paper's."""
    note = provenance_note(archived)
    rows = [{"k": str(label), "test instability (pp), archived": results.mean_std(_drawn(
                 archived.instability.sel(split="test", rewind_step=k))),
             "train instability (pp), archived": results.mean_std(_drawn(
                 archived.instability.sel(split="train", rewind_step=k))),
             f"test instability (pp), this build ({ours.attrs.get('preset', '') if ours is not None else 'none'})":
                 _at_k(ours, str(label))}
            for k, label in zip(archived.rewind_step.values, archived.rewind_label.values)]
    table = pd.DataFrame(rows).set_index("k")
    table.attrs.update(note)
    ours_k = tables.stable_from(archived)
    paper_k = None if setting.stable_from is None else instability.rewind_iterations(setting, setting.stable_from)
    k0 = archived.rewind_step.values.min()
    found = {"archive_k0": _unit(results.mean_std(_drawn(archived.instability.sel(split="test", rewind_step=k0))), " pp")
             + ("" if int(k0) == 0 else f" (at k = {int(k0)}, the smallest k archived)"),
             "archive_stable_from": "never in the grid" if ours_k is None else f"k = {ours_k}",
             "archive_grid": ", ".join(str(k) for k in archived.rewind_label.values)}
    found["archive_result"] = (f"test instability at k = 0 {found['archive_k0']}; the mean stays below "
                               f"{interpolate.STABLE_BELOW:g} pp from {found['archive_stable_from']} on "
                               f"(k grid {found['archive_grid']})")
    if paper_k is None:
        found["archive_verdict"] = "Not testable here: the paper reports no stable step for this network."
    elif ours_k is None:
        found["archive_verdict"] = (f"Contradicted: the paper finds this network stable from k = {paper_k}; "
                                    f"ours is stable at no k of the grid.")
    else:
        agree = ours_k <= paper_k
        found["archive_verdict"] = (f"{'Supported' if agree else 'Contradicted'}: the paper finds this network "
                                    f"stable from k = {paper_k}, ours from k = {ours_k}.")
    return table, found


def _schedule_rows(archived: xr.Dataset, ours, setting: reported.Setting, preset: str):
    """Chapter 03: the archived test instability of both schedules at every k, their
    difference, and the spread over draws that the difference is read against."""
    test = archived.instability.sel(split="test")
    rows, gaps, spreads = [], [], []
    for k, label in zip(archived.rewind_step.values, archived.rewind_label.values):
        row = {"k": str(label)}
        means = []
        for reset in (False, True):
            name = instability.SCHEDULES[reset]
            draws = _drawn(test.sel(rewind_step=k, schedule=name))
            row[f"{name} (pp), archived"] = results.mean_std(draws)
            means.append(draws.mean())
            spreads.append(draws.std(ddof=1) if draws.size > 1 else np.nan)
        row["|difference| (pp)"] = f"{abs(means[0] - means[1]):.2f}"
        gaps.append(abs(means[0] - means[1]))
        rows.append(row)
    largest, spread = float(np.max(gaps)), float(np.nanmax(spreads)) if np.isfinite(spreads).any() else np.nan
    found = {"archive_largest_difference": f"{largest:.2f} pp", "archive_spread": f"{spread:.2f} pp"}
    found["archive_result"] = (f"the two versions' mean test instability differs by at most "
                               f"{found['archive_largest_difference']} over k = "
                               f"{', '.join(str(k) for k in archived.rewind_label.values)}, against a largest "
                               f"standard deviation over draws of {found['archive_spread']}")
    if not spread == spread:
        found["archive_verdict"] = "Not testable here: one draw per k gives no spread to read the difference against."
    else:
        within = largest <= spread
        found["archive_verdict"] = (f"{'Supported' if within else 'Contradicted'}: the paper finds the two versions "
                                    f"indistinguishable; ours differ by {largest:.2f} pp, "
                                    f"{'within' if within else 'more than'} one standard deviation ({spread:.2f} pp).")
    return pd.DataFrame(rows).set_index("k"), found


def _bound_verdict(test: xr.DataArray, bound: float | None) -> str:
    """Chapter 01's reading of the archived test instability against the paper's bound: on the
    mean over all draws, and how many single draws (pairs) exceed the bound."""
    if bound is None:
        return "Not testable here: the paper reports no bound for this network."
    draws = _drawn(test)
    over = int((draws >= bound).sum())
    mean = float(draws.mean())
    return (f"{'Supported' if mean < bound else 'Contradicted'} on the mean: {mean:.2f} pp against the paper's "
            f"bound of less than {bound:g} percentage point; {over} of {draws.size} pairs reach the bound or exceed it.")


def _unit(text: str, unit: str) -> str:
    """``unit`` after a ``results.mean_std`` number, before its "(one pair)" note."""
    number, sep, note = text.partition(" (")
    return f"{number}{unit}{sep}{note}"


def _sentence(text: str) -> str:
    """``text`` as a sentence: capital first letter (the rest untouched), final period."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _instability_rows(archived, ours, setting, preset) -> pd.DataFrame:
    def row(name, ds, when, machine, took):
        return {"": name, "protocol": protocol(ds),
                "test instability (pp)": results.mean_std(ds.instability.sel(split="test")),
                "train instability (pp)": results.mean_std(ds.instability.sel(split="train")),
                "test accuracy (%)": results.mean_std(100 - tables.endpoint_error(ds).sel(split="test"),
                                                      unit="copy"),
                "computed": when, "machine": machine, "time": took}

    note = provenance_note(archived)
    rows = [row(f"ours, `{preset}` protocol (archived)", archived, note["dates"], note["machine"], note["time"])]
    if ours is not None:
        rows.append(row(f"ours, this build (`{ours.attrs.get('preset', '')}`)", ours,
                        str(ours.attrs.get("created", ""))[:10], str(ours.attrs.get("cpu", "")), ""))
    bound = setting.instability_at_init
    rows.append({"": "paper (Frankle et al. 2020)",
                 "protocol": f"Table 1's {rewind_total(setting):,} iterations, 3 initializations × 3 pairs, 30 α",
                 "test instability (pp)": "not reported" if bound is None else f"< {bound:g}",
                 "train instability (pp)": "not reported" if bound is None else f"< {bound:g}",
                 "test accuracy (%)": reported.accuracy_text(setting), "computed": "", "machine": "", "time": ""})
    return pd.DataFrame(rows).set_index("")


def rewind_total(setting: reported.Setting) -> int:
    """Table 1's T of a setting in iterations."""
    return instability.rewind_iterations(setting, setting.hparams.training_steps)


def _table2_rows(archived, ours, preset) -> pd.DataFrame:
    table = tables.table2(archived)
    note = provenance_note(archived)
    frames = [table.loc[["ours"]].rename(index={"ours": f"ours, `{preset}` protocol (archived)"})
              .assign(protocol=protocol(archived), computed=note["dates"], machine=note["machine"], time=note["time"])]
    if ours is not None:
        frames.append(tables.table2(ours).loc[["ours"]]
                      .rename(index={"ours": f"ours, this build (`{ours.attrs.get('preset', '')}`)"})
                      .assign(protocol=protocol(ours), computed=str(ours.attrs.get("created", ""))[:10],
                              machine=str(ours.attrs.get("cpu", "")), time=""))
    if "paper" in table.index:
        frames.append(table.loc[["paper"]].rename(index={"paper": "paper (Frankle et al. 2020)"})
                      .assign(protocol="Table 1's recipe, 3 initializations × 3 pairs, 30 α"))
    out = pd.concat(frames)
    out.index.name = ""
    first = ["protocol"]
    return out[first + [c for c in out.columns if c not in first]].astype(object).where(out.notna(), "")
