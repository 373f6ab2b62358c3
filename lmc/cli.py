"""Command line: ``lmc run``, ``lmc sweep``, ``lmc data``, ``lmc book``, ``lmc search-standin``.

The commands call the same experiment functions as the chapters and share their
run cache, so a result computed here is found by a chapter and the other way round.
A user error prints one line (``lmc: error: ...``) and exits with status 2.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

from . import __version__
from .core import data, paths, results, store
from .core.errors import CacheError, ConfigError, LMCError
from .experiments import instability, sparse, tables
from .paper import presets
from .report import book


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors (no usage block)."""

    def error(self, message):
        self.exit(2, f"lmc: error: {message}; see `{self.prog} --help`\n")


def _writable_output(path: Path) -> Path:
    """``path`` if a result can be written there; checked before anything is computed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CacheError(f"cannot write {path}: {e.strerror or e} ({path.parent}); choose "
                         f"another --out") from e
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give a file name ending in .nc")
    return path


def _run_instability(args) -> None:
    config = instability.instability_config(
        model=args.model, variant=args.variant, rewind_step=args.rewind[0], preset=args.preset,
        init_seeds=args.init_seeds, pairs=args.pairs, n_alpha=args.alphas,
        reset_schedule=args.reset_schedule)
    speed = _speed_args(args)
    out = _writable_output(args.out or paths.cli_instability(args.preset, args.model, args.variant, args.rewind))
    if len(args.rewind) == 1:
        ds = instability.instability_analysis(config, device=args.device, progress=not args.quiet, **speed)
        table = tables.instability_table(ds)
    else:
        ds = instability.instability_curve(config, args.rewind, device=args.device, progress=not args.quiet,
                                           **speed)
        table = tables.stability_table({(args.model, args.variant): ds})
    results.save(ds, out)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out}")


def _run_sparse(args) -> None:
    config = instability.instability_config(
        model=args.model, variant=args.variant, rewind_step=args.rewind[0], preset=args.preset,
        init_seeds=args.init_seeds, pairs=args.pairs, n_alpha=args.alphas)
    if args.levels is None and args.density is None:
        raise ConfigError("no pruning level given; add --levels N (IMP rounds of 20%) or --density D "
                          "(fraction of weights kept)")
    if args.levels is not None and args.density is not None:
        raise ConfigError("--levels and --density both given; keep one of them")
    levels = args.levels or [sparse.pruning(config, density=args.density)[0] or 0]
    speed = _speed_args(args)
    out = _writable_output(args.out or paths.cli_sparse(args.preset, args.model, args.variant, levels, args.rewind))
    run = {"device": args.device, "progress": not args.quiet, **speed}
    if len(levels) > 1:
        ds = sparse.sparsity_grid(config, levels, args.rewind, **run)
        table = tables.stability_and_matching(ds)
    elif len(args.rewind) > 1:
        ds = sparse.sparse_curve(config, args.levels and levels[0], args.rewind, density=args.density, **run)
        table = tables.rewind_table(ds)
    elif args.density is not None:
        ds = sparse.sparse_instability(config, density=args.density, **run)
        table = tables.table2(ds)
    else:
        ds = sparse.sparse_instability(config, levels[0], **run)
        table = tables.table2(ds)
    results.save(ds, out)
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out}")


def _sweep(args) -> None:
    from . import sweep  # imports submitit

    jobs = sweep.jobs(args.experiment, args.model, args.variant, args.rewind, args.preset,
                      args.init_seeds, args.pairs, args.alphas, args.reset_schedule, args.device)
    resources = {"time_limit": args.time, "partition": args.partition, "gpus": args.gpus,
                 "cpus": args.cpus, "array_parallelism": args.array_parallelism}
    if args.dry_run:
        print("\n".join(sweep.dry_run(jobs, args.executor, **resources)))
        return
    if args.executor == "local":  # checked here, before any job starts; a cluster node checks its own
        instability.resolve_device(args.device)
        data.verify(jobs[0].config.hparams.dataset)
    handles = sweep.submit(jobs, args.executor, args.log_dir, **resources)
    if args.executor == "slurm":
        print(f"submitted {len(handles)} jobs ({', '.join(h.job_id for h in handles[:3])}"
              f"{' ...' if len(handles) > 3 else ''}); logs in {handles[0].paths.folder}; run the "
              f"chapter or `lmc run` once they finish (it finds their runs in the cache)")
        return
    print("\n".join(sweep.report(jobs, handles)))
    print(f"{len(handles)} jobs done; their runs are in {store.cache_dir()}")


def _search_standin(args) -> None:
    from .studies import standin_search

    if args.jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, got {args.jobs}")
    failures = standin_search.main(args.stage, args.jobs, args.results_dir, args.device, args.candidate,
                                   args.pick, args.list, progress=not args.quiet)
    if failures:
        raise LMCError(f"{failures} candidate(s) failed; their logs are named above; run the same command "
                       f"again to retry them (finished shards and cached runs are kept)")


def _data(args) -> None:
    if args.action == "list":
        for name, info in data.manifest().items():
            print(f"{name:15s} {info['title']}")
        return
    if not args.names:
        raise LMCError(f"`lmc data {args.action}` needs a data set name; one of: "
                       f"{', '.join(data.manifest())}")
    action = data.fetch if args.action == "fetch" else data.verify
    for name in args.names:
        verified = action(name)
        print(f"{name}: {len(verified)} files verified in {data.dataset_folder(name)}")


def _parameter(text: str) -> tuple[str, object]:
    """A ``--param NAME=VALUE`` pair; VALUE is a Python literal, or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ConfigError(f"malformed --param {text!r}; write --param NAME=VALUE, e.g. "
                          f"--param pairs=2 or --param init_seeds=[0,1]")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


def _book(args) -> None:
    html = book.build(preset=args.preset, results_dir=args.results_dir, only=args.chapters,
                      run=not args.no_execute, strict=args.strict,
                      parameters=dict(_parameter(t) for t in args.param or ()), jobs=args.jobs)
    print(f"book written to {html / 'index.html'}")


def _status(args) -> None:
    from .experiments import archive

    print(archive.status_text(args.results_dir, args.preset, args.chapters, args.model or archive.MODELS,
                              args.variant))
    if not args.chapters:  # the other archived computation: the stand-in search's shards
        from .studies import standin_search

        print("\n" + standin_search.status_text(args.results_dir))


def _archive_compute(args) -> None:
    from .experiments import archive

    done = archive.compute_missing(args.chapter, args.model, args.variant, args.preset, args.results_dir,
                                   args.jobs, args.device, args.init_seed, args.rewind, args.commit,
                                   progress=not args.quiet)
    where = (f" --preset {args.preset}" if args.preset != "paper" else "") + \
        (f" --results-dir {args.results_dir}" if str(args.results_dir) != "results" else "")
    print(f"{len(done)} shard(s) computed; `lmc status --chapters {args.chapter[:2]}{where}` shows the archive")


def add_archive_options(p: argparse.ArgumentParser) -> None:
    """Where the paper-protocol archive is and which protocol it holds."""
    p.add_argument("--preset", default="paper", help="the archived protocol (default paper: Table 1's)")
    p.add_argument("--results-dir", default="results", help="the archive's root (default results)")
    p.add_argument("--variant", default="standard", help="Table 1 variant: standard, low, warmup")


def add_speed_options(p: argparse.ArgumentParser) -> None:
    """Switches for populations and the GPU speed-ups (default: on for CUDA, off for the CPU,
    except bf16: off everywhere, since the paper trains in float32)."""
    on_off = argparse.BooleanOptionalAction
    p.add_argument("--population", action=on_off, help="train the runs of one step together (vmap)")
    p.add_argument("--bf16", action=on_off, help="bfloat16 autocast (default off: the paper trains in "
                   "float32; changes the numbers, so it enters the runs' identity)")
    p.add_argument("--channels-last", action=on_off, help="NHWC layout for convolutional networks")
    p.add_argument("--compile", action=on_off, help="torch.compile single runs")


def add_run_options(p: argparse.ArgumentParser, rewind_help: str) -> None:
    """The options every ``lmc run`` experiment takes: network, sizes, device, speed, output."""
    p.add_argument("--model", default="lenet_300_100", help="network name (Table 1)")
    p.add_argument("--variant", default="standard", help="Table 1 variant: standard, low, warmup")
    p.add_argument("--rewind", default=["0"], nargs="+", help=rewind_help)
    p.add_argument("--preset", default=presets.DEFAULT, help=f"one of {', '.join(presets.PRESETS)}")
    p.add_argument("--init-seeds", type=int, nargs="+", help="initialization seeds (default: preset's)")
    p.add_argument("--pairs", type=int, help="data-order pairs per initialization (default: preset's)")
    p.add_argument("--alphas", type=int, help="points on the path (default: preset's; paper 30)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    add_speed_options(p)
    p.add_argument("--out", type=Path, help="netCDF file to write (default results/<preset>/...)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _speed_args(args) -> dict:
    """``populate`` and ``accel`` of the experiment functions, from the speed options."""
    return {"populate": args.population,
            "accel": {"bf16": args.bf16, "channels_last": args.channels_last, "compile": args.compile}}


def parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lmc`` command."""
    p = _Parser(prog="lmc", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"lmc {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="compute an experiment's results (cached)")
    run_sub = run.add_subparsers(dest="experiment", required=True)
    inst = run_sub.add_parser("instability", help="instability analysis at rewind step k")
    add_run_options(inst, "rewind step k, e.g. 0, 500it, 2ep; several give the curve of Figure 3")
    inst.add_argument("--reset-schedule", action="store_true",
                      help="Figure 4: copies train T steps with the schedule restarted at 0")
    inst.set_defaults(func=_run_instability)

    sp = run_sub.add_parser("sparse", help="IMP subnetworks and random baselines: Table 2, Figures 5-8")
    add_run_options(sp, "rewind step k; several give Figures 6-7")
    sp.add_argument("--levels", type=int, nargs="+",
                    help="IMP rounds of 20%% (15: 3.5%% of weights); several give Figure 8's grid")
    sp.add_argument("--density", type=float, help="fraction of weights kept instead of --levels (one-shot "
                    "for the ImageNet networks, as in Table 1)")
    sp.set_defaults(func=_run_sparse)

    sw = sub.add_parser("sweep", help="submit a chapter's grid of runs as jobs (local or Slurm)")
    sw.add_argument("experiment", choices=["instability", "schedule"],
                    help="instability: chapter 02's curve; schedule: chapter 03's two schedules")
    sw.add_argument("--model", default="lenet_300_100", help="network name (Table 1)")
    sw.add_argument("--variant", default="standard", help="Table 1 variant: standard, low, warmup")
    sw.add_argument("--rewind", nargs="+", help="rewind steps k (default: the chapter's grid)")
    sw.add_argument("--reset-schedule", action="store_true", help="Figure 4's schedule reset")
    sw.add_argument("--preset", default=presets.DEFAULT, help=f"one of {', '.join(presets.PRESETS)}")
    sw.add_argument("--init-seeds", type=int, nargs="+", help="initialization seeds (default: chapter's)")
    sw.add_argument("--pairs", type=int, help="data-order pairs per initialization (default: preset's)")
    sw.add_argument("--alphas", type=int, help="points on the path (default: chapter's)")
    sw.add_argument("--device", default="auto", help="auto, cpu or cuda (resolved where a job runs)")
    sw.add_argument("--executor", default="local", choices=["local", "slurm"],
                    help="local: processes on this machine; slurm: a job array (needs sbatch)")
    sw.add_argument("--partition", help="Slurm partition")
    sw.add_argument("--gpus", type=int, default=1, help="GPUs per Slurm job (default 1)")
    sw.add_argument("--cpus", type=int, default=4, help="CPUs per Slurm job (default 4)")
    sw.add_argument("--time", default="4:00:00", help="time limit per job: minutes or H:MM:SS")
    sw.add_argument("--array-parallelism", type=int, default=1,
                    help="jobs running at once (Slurm array throttle; local: processes)")
    sw.add_argument("--log-dir", type=Path, help="submitit logs (default <cache>/sweeps/<time>)")
    sw.add_argument("--dry-run", action="store_true", help="print the jobs, submit nothing")
    sw.set_defaults(func=_sweep)

    ss = sub.add_parser("search-standin", help="the search for the CPU stand-in (appendix \"Choosing the "
                        "CPU stand-in\"): list or compute its shards")
    ss.add_argument("--stage", type=int, default=1, choices=[1, 2, 3],
                    help="1: screening (1 init × 1 pair); 2: the best of stage 1 at 3 × 2 with low and warmup; "
                         "3: Appendix B's rule beyond stage 2's sparsest level (1 × 1, dense and IMP)")
    ss.add_argument("--list", action="store_true", help="list the stage's candidates and the missing shards")
    ss.add_argument("--jobs", type=int, default=2,
                    help="candidates computed at once, each a process with cores / jobs threads (default 2)")
    ss.add_argument("--candidate", help="compute only this candidate id, in this process")
    ss.add_argument("--pick", nargs="+", help="stage 2: these stage-1 candidate ids (default: the best 3)")
    ss.add_argument("--results-dir", type=Path, default=Path("results"),
                    help="shards go to <results-dir>/standin_search/ (default results/)")
    ss.add_argument("--device", default="cpu", help="auto, cpu or cuda (default cpu)")
    ss.add_argument("--quiet", action="store_true", help="no progress bars")
    ss.set_defaults(func=_search_standin)

    d = sub.add_parser("data", help="list, verify or fetch data sets (data_manifest.yaml)")
    d.add_argument("action", choices=["list", "verify", "fetch"])
    d.add_argument("names", nargs="*", help="data set names, e.g. mnist fashion_mnist")
    d.set_defaults(func=_data)

    b = sub.add_parser("book", help="execute every chapter and build the HTML book")
    b.add_argument("--preset", default=presets.DEFAULT, help=f"one of {', '.join(presets.PRESETS)}")
    b.add_argument("--results-dir", type=Path, help="where results/<preset>/*.nc go (default results/)")
    b.add_argument("--chapters", nargs="+", help="only these chapters, e.g. 01")
    b.add_argument("--no-execute", action="store_true", help="render the executed copies as they are")
    b.add_argument("--strict", action="store_true", help="treat Sphinx warnings as errors")
    b.add_argument("--jobs", type=int, default=1,
                   help="chapters executed at once, each with an equal share of the CPU cores (default 1)")
    b.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="a chapter parameter (papermill), e.g. pairs=2; repeatable")
    b.set_defaults(func=_book)

    st = sub.add_parser("status", help="the paper-protocol archive: which shards exist, the command for each "
                                       "missing one")
    st.add_argument("--chapters", nargs="+", help="chapter numbers, e.g. 01 04 (default 01-05)")
    st.add_argument("--model", nargs="+", help="networks (default lenet_300_100)")
    add_archive_options(st)
    st.set_defaults(func=_status)

    ar = sub.add_parser("archive", help="compute the paper-protocol archive's shards (results/paper/)")
    ar_sub = ar.add_subparsers(dest="action", required=True)
    ac = ar_sub.add_parser("compute", help="compute a chapter's missing shards, each saved when done")
    ac.add_argument("--chapter", required=True, help="chapter number: 01, 02, 03, 04 or 05")
    ac.add_argument("--model", default="lenet_300_100", help="network name (Table 1)")
    add_archive_options(ac)
    ac.add_argument("--init-seed", type=int, nargs="+", help="only these initializations' shards")
    ac.add_argument("--rewind", nargs="+", help="only these rewind steps' shards (chapters 02, 03, 05)")
    ac.add_argument("--jobs", type=int, default=1, help="shards computed at once, each in a process with "
                    "cores/jobs torch threads (one per core: --jobs 2 on 2 cores)")
    ac.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ac.add_argument("--commit", action="store_true", help="git commit each shard's file as soon as it is done")
    ac.add_argument("--quiet", action="store_true", help="no progress bars")
    ac.set_defaults(func=_archive_compute)
    ast_ = ar_sub.add_parser("status", help="the same as `lmc status`")
    ast_.add_argument("--chapters", nargs="+", help="chapter numbers, e.g. 01 04 (default 01-05)")
    ast_.add_argument("--model", nargs="+", help="networks (default lenet_300_100)")
    add_archive_options(ast_)
    ast_.set_defaults(func=_status)

    c = sub.add_parser("cache", help="print the run cache folder")
    c.set_defaults(func=lambda args: print(store.cache_dir()))
    return p


def main(argv=None) -> int:
    """Entry point of the ``lmc`` console script."""
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except LMCError as e:
        print(f"lmc: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:  # a file system refusing a read or write that lmc did not wrap
        where = f" ({e.filename})" if e.filename else ""
        print(f"lmc: error: {e.strerror or e}{where}; check that the folder exists, is writable "
              f"and has free space (LMC_CACHE_DIR, LMC_DATA_DIR, --out)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lmc: interrupted; finished runs are cached and the next call resumes", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
