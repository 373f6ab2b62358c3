"""The book: execute every chapter with papermill, then build HTML with Jupyter Book.

Sources live in ``chapters/`` without outputs; executed copies are written to
``book/chapters/`` and rendered into ``book/_build/html``. This thin wrapper is the
one place that knows how notebooks are run, so the runner can be swapped.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..core import paths, processes, results
from ..core.errors import ConfigError, LMCError
from ..paper import presets

ROOT = Path(__file__).resolve().parents[2]  # the checkout: lmc/report/book.py
GENERATED = Path("book") / "_generated"  # written by every build: the intro's status table and diagram


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter source notebooks under ``root/chapters``, in book order: the paper's
    (``01_...``), its appendices (``a_b_...`` for Appendix B), then those beyond the paper
    (``b1_...``)."""
    if not (root / "chapters").is_dir():
        raise LMCError(f"no chapters/ folder in {root}; building the book needs a checkout "
                       f"of the repository")
    folder = root / "chapters"
    return (sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("a_[a-z]_*.ipynb"))
            + sorted(folder.glob("b[0-9]_*.ipynb")))


def select(names=None, root: Path = ROOT) -> list[Path]:
    """Chapters whose file name starts with one of ``names`` (all when None)."""
    found = chapters(root)
    if not names:
        return found
    chosen = [p for p in found if any(p.stem.startswith(str(n)) for n in names)]
    if len(chosen) == 0:
        raise ConfigError(f"no chapter matches {list(names)}; chapters: "
                          f"{', '.join(p.stem for p in found)}")
    return chosen


_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": (list, tuple),
          "dict": dict, "tuple": (list, tuple)}


def _expected_type(declared: dict):
    """The Python type(s) a parameter accepts: its annotation, else its default's type (None: any)."""
    annotation = declared.get("inferred_type_name") or "None"
    if annotation != "None":
        names = [t.strip().split("[")[0] for t in annotation.replace("Optional[", "").split("|")]
        types = tuple(_TYPES.get(n, object) for n in names if n != "None")
        return types or None, "None" in names or "Optional" in annotation
    try:
        default = ast.literal_eval(declared["default"])
    except (ValueError, SyntaxError):
        return None, True
    if default is None:
        return None, True
    return _TYPES.get(type(default).__name__, type(default)), False


def check_parameters(chapter: Path, parameters: dict) -> None:
    """Refuse a parameter the chapter does not declare, or one whose type differs from the
    declared default's (an int for a string, a string for a list ...), before anything runs."""
    import papermill

    known = papermill.inspect_notebook(str(chapter))
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ConfigError(f"{chapter.name} has no parameter {', '.join(map(repr, unknown))}; "
                          f"its parameters: {', '.join(known)}")
    for name, value in parameters.items():
        types, none_ok = _expected_type(known[name])
        if types is None or (value is None and none_ok):
            continue
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            ok = False
        else:
            ok = isinstance(value, types)
        if not ok:
            raise ConfigError(f"{chapter.name} parameter {name!r} must be like its default "
                              f"{known[name]['default']}, got {type(value).__name__} {value!r}; "
                              f"pass {known[name]['help']}")


def execute(chapter: Path, output: Path, parameters: dict, progress: bool = True) -> Path:
    """Run one chapter notebook with papermill ``parameters``; the executed copy goes to ``output``.

    A parameter the chapter does not declare, or of another type than its default, is
    refused before anything runs (papermill itself would only log a warning and inject it).
    """
    import papermill

    check_parameters(chapter, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(chapter), str(output), parameters=parameters,
                               cwd=str(chapter.parent.parent),
                               progress_bar=progress, kernel_name="python3")
    return output


def _execute_all(chosen: list[Path], folder: Path, values: dict, jobs: int):
    """Execute ``chosen`` into ``folder``; yields (chapter, seconds, error message or None) as
    each finishes. One at a time in this process (``jobs`` 1), or ``jobs`` at a time, each in a
    child process whose torch uses cores / ``jobs`` threads (on 2 CPU cores two 1-thread
    LeNet trainings do 1.44× the steps of one 2-thread training, the stand-in 1.55×; measured
    2026-12-02 with ``benchmarks/parallel_jobs.py``). A child's output goes to ``<chapter>.log``."""
    from papermill.exceptions import PapermillExecutionError

    if jobs == 1:
        for chapter in chosen:
            start = time.time()
            print(f"executing {chapter.name} with preset {values['preset']!r} ...", flush=True)
            output = folder / chapter.name
            try:
                execute(chapter, output, values)
            except PapermillExecutionError as e:
                yield chapter, time.time() - start, f"{e.ename}: {e.evalue}; the executed copy with the traceback is {output}"
                continue
            yield chapter, time.time() - start, None
        return
    code = ("import json, sys; from pathlib import Path; from lmc.report.book import execute; "
            "execute(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), progress=False)")
    folder.mkdir(parents=True, exist_ok=True)
    tasks = [(chapter, ["-c", code, str(chapter), str(folder / chapter.name), json.dumps(values)],
              folder / f"{chapter.stem}.log") for chapter in chosen]

    def started(chapter, threads, _log):
        print(f"executing {chapter.name} with preset {values['preset']!r} ({threads} threads) ...", flush=True)

    for chapter, seconds, returncode, log in processes.run(tasks, jobs, started):
        error = None if returncode == 0 else f"exit {returncode}; its output is {log} and the executed copy {folder / chapter.name}"
        yield chapter, seconds, error


# ---- the "Re-run this chapter" box that `lmc book` puts under every chapter's title

# Minutes a chapter takes from an empty run cache: (CPU, GPU); None: not measured yet.
# CPU is the project's 2-core x86_64 machine. Where each number comes from:
# - smoke: measured, `lmc book --preset smoke` on 2026-11-25 with another job using the cores
#   (22, 23, 20 and 67 s; the "done in" lines of lmc book, now kept in timings.json).
# - quick: measured, `lmc book --preset quick --jobs 2` from an empty run cache on 2026-12-02
#   (the whole book 37 min 46 s; these are each chapter's own wall times with another chapter
#   executing beside it, so they add up to 73 min; timings.json keeps the seconds). Alone on
#   both cores a chapter takes 0.4-0.9 of that (chapters 01-03 alone, the same day: 89, 382,
#   292 s against 99, 468, 672). Appendix D and b3, measured afterwards on their own once they
#   also followed the stand-in: 289 s (one thread: the last chapter of a --jobs 2 build keeps
#   its share) and 167 s.
# - paper, chapters 01 and 04 with their default network, LeNet: the same per-run estimate
#   (01: 9 pairs = 18 runs; 04: 3 seeds × 16 IMP trainings + 3 subnetworks × 9 pairs × 2
#   copies = 102 runs). Chapters 02-03
#   at `paper` train CIFAR-10 and ImageNet networks: 6 h (ResNet-20) to 45 h (VGG-16) per run
#   on this CPU (benchmarks/train_speed.py), i.e. GPU work.
# No GPU has been lent to this project yet: the GPU column fills in from timings.json once
# `lmc book` has run a chapter on one.
DAYS = "days to weeks: CIFAR-10 and ImageNet networks (GPU work)"
EXPECTED_MINUTES: dict[tuple[str, str], tuple[float | str | None, float | str | None]] = {
    ("01_instability_at_init", "smoke"): (0.4, None),
    ("02_instability_during_training", "smoke"): (0.4, None),
    ("03_training_time_or_schedule", "smoke"): (0.4, None),
    ("04_lottery_tickets_at_init", "smoke"): (1.1, None),
    ("05_rewinding", "smoke"): (1.8, None),
    ("06_sparsity_ranges", "smoke"): (1.1, None),
    ("a_b_sparsity_levels", "smoke"): (2.5, None),
    ("a_c_distances", "smoke"): (1.5, None),
    ("a_d_instability_through_training", "smoke"): (2, None),
    ("a_g_train_instability", "smoke"): (1.1, None),
    ("a_h_other_distances", "smoke"): (1.5, None),
    ("b1_early_phase", "smoke"): (2.5, None),
    ("b2_sanity_checks", "smoke"): (2.5, None),
    ("b3_weight_correlation", "smoke"): (1.6, None),
    ("b4_our_questions", "smoke"): (7.5, None),
    ("01_instability_at_init", "quick"): (1.6, None),
    ("02_instability_during_training", "quick"): (7.8, None),
    ("03_training_time_or_schedule", "quick"): (11, None),
    ("04_lottery_tickets_at_init", "quick"): (12, None),
    ("05_rewinding", "quick"): (11, None),
    ("06_sparsity_ranges", "quick"): (10, None),
    ("a_b_sparsity_levels", "quick"): (6, None),
    ("a_c_distances", "quick"): (1.5, None),
    ("a_d_instability_through_training", "quick"): (4.8, None),
    ("a_g_train_instability", "quick"): (0.3, None),
    ("a_h_other_distances", "quick"): (0.9, None),
    ("b1_early_phase", "quick"): (2.3, None),
    ("b2_sanity_checks", "quick"): (2.2, None),
    ("b3_weight_correlation", "quick"): (2.8, None),
    ("b4_our_questions", "quick"): (2.7, None),
    ("01_instability_at_init", "paper"): (20, None),
    ("04_lottery_tickets_at_init", "paper"): (110, None),
    ("02_instability_during_training", "paper"): (DAYS, None),
    ("03_training_time_or_schedule", "paper"): (DAYS, None),
}
TIMINGS = paths.TIMINGS  # <results_dir>/<preset>/timings.json: measured execution times (lmc.core.paths)


def _duration(minutes: float | str | None) -> str:
    if minutes is None:
        return "not measured"
    if isinstance(minutes, str):
        return minutes
    if minutes < 1:
        return f"about {max(5, round(minutes * 60, -1)):.0f} s"
    return f"about {minutes:.0f} min" if minutes < 120 else f"about {minutes / 60:.0f} h"


def record_time(results_dir: Path, preset: str, chapter: str, seconds: float, device: str,
                jobs: int = 1) -> Path:
    """Add one chapter's measured execution time to ``<results_dir>/<preset>/timings.json``
    (``jobs``: how many chapters were executing at once, sharing the cores)."""
    from ..core import store

    path = paths.timings(results_dir, preset)
    times = json.loads(path.read_text()) if path.exists() else {}
    times.setdefault(chapter, {})[device] = {
        "seconds": round(seconds, 1), "cpus": os.cpu_count(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **({"jobs": jobs} if jobs > 1 else {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    store.atomic_write(path, json.dumps(times, indent=1, sort_keys=True).encode())
    return path


def expected_times(chapter: str, preset: str, results_dir: Path | None = None) -> dict[str, str]:
    """Expected time of one chapter with ``preset`` on a CPU and on a GPU, as text: the last
    time recorded in ``timings.json`` if there is one, else :data:`EXPECTED_MINUTES`."""
    cpu, gpu = EXPECTED_MINUTES.get((chapter, preset), (None, None))
    text = {"cpu": _duration(cpu), "gpu": _duration(gpu)}
    path = paths.timings(results_dir or ROOT / paths.RESULTS, preset)
    recorded = json.loads(path.read_text()).get(chapter, {}) if path.exists() else {}
    for device, entry in recorded.items():  # a measured time says when and how; runs found in
        kind = "gpu" if device.startswith("cuda") else "cpu"  # the cache made it shorter, if any
        shared = f", {entry['jobs']} chapters at a time" if entry.get("jobs", 1) > 1 else ""
        last = f"last `lmc book` here: {_duration(entry['seconds'] / 60).removeprefix('about ')} " \
               f"({entry['date'][:10]}, {entry['cpus']} CPU cores{shared}, cache as it was)"
        text[kind] = last if text[kind] == "not measured" else f"{text[kind]}; {last}"
    return text


def _size_flags(parameters: dict) -> str:
    """``lmc run`` flags for the chapter parameters that change sizes (seeds, pairs, α)."""
    flags = {"init_seeds": "--init-seeds", "pairs": "--pairs", "n_alpha": "--alphas"}
    return "".join(f" {flag} {' '.join(map(str, parameters[name])) if name == 'init_seeds' else parameters[name]}"
                   for name, flag in flags.items() if parameters.get(name) is not None)


def _curve_commands(preset: str, parameters: dict, reset: bool) -> list[str]:
    from ..experiments import instability

    plan = instability.curve_configs(preset, parameters.get("model"), parameters.get("variant", "standard"),
                                     parameters.get("rewind_steps"), parameters.get("init_seeds"),
                                     parameters.get("pairs"), parameters.get("n_alpha"))
    commands = []
    for config, grid in plan.values():
        commands.append(instability.cli_command(config, grid) + _size_flags(parameters))
        if reset:
            commands.append(commands[-1] + " --reset-schedule")
    return commands


def _sparse_commands(preset: str, parameters: dict, kind: str) -> list[str]:
    """``lmc run sparse`` for chapters 04 (one k), 05 (the k grid) and 06 (the density grid)."""
    from ..experiments import sparse

    rewind = [parameters.get("rewind_step", "0")] if kind == "table2" else parameters.get("rewind_steps")
    plan = sparse.sparse_plan(preset, parameters.get("model"), parameters.get("variant", "standard"),
                              parameters.get("density"), rewind, parameters.get("init_seeds"),
                              parameters.get("pairs"), parameters.get("n_alpha"), parameters.get("levels"))
    return [sparse.sparse_command(p["config"], p["rewind_steps"],
                                  p["grid_levels"] if kind == "grid" else p["levels"]) + _size_flags(parameters)
            for p in plan.values()]


# chapter -> the `lmc run` commands that compute its results without the notebook
CLI = {
    "01_instability_at_init": lambda preset, p: [
        f"lmc run instability --model {p.get('model', 'lenet_300_100')} --variant "
        f"{p.get('variant', 'standard')} --preset {preset} --rewind 0{_size_flags(p)}"],
    "02_instability_during_training": lambda preset, p: _curve_commands(preset, p, reset=False),
    "03_training_time_or_schedule": lambda preset, p: _curve_commands(preset, p, reset=True),
    "04_lottery_tickets_at_init": lambda preset, p: _sparse_commands(preset, p, "table2"),
    "05_rewinding": lambda preset, p: _sparse_commands(preset, p, "curve"),
    "06_sparsity_ranges": lambda preset, p: _sparse_commands(preset, p, "grid"),
    "a_s_choosing_the_stand_in": lambda preset, p: [f"lmc search-standin --stage {p.get('stage', 1)} --jobs 2"],
}


def rerun_box(chapter: str, preset: str = presets.DEFAULT, parameters: dict | None = None,
              results_dir: Path | None = None, downloads: list[str] = ()) -> str:
    """The "Re-run this chapter" box (MyST markdown): the papermill and CLI commands with the
    chapter's parameters, its expected time on a CPU and a GPU, the source notebook and the
    ``downloads`` (result files under ``book/chapters/results/``, :func:`copy_results`)."""
    presets.get(preset)
    parameters = {k: v for k, v in (parameters or {}).items() if k not in ("preset", "results_dir")}
    flags = "".join(f" -p {k} {shlex.quote(v if isinstance(v, str) else json.dumps(v))}"
                    for k, v in parameters.items())
    lines = ["```{admonition} Re-run this chapter", ":class: tip rerun-box",
             f"This page was built with `preset = \"{preset}\"`"
             + (f" and {', '.join(f'`{k} = {v!r}`' for k, v in parameters.items())}" if parameters else "")
             + ". To run it again (from the repository root):", "",
             f"    papermill chapters/{chapter}.ipynb out.ipynb -p preset {preset}{flags}",
             f"    lmc book --chapters {chapter[:2]} --preset {preset}"
             + "".join(f" --param {shlex.quote(f'{k}={v if isinstance(v, str) else repr(v)}')}"
                       for k, v in parameters.items())]
    try:
        commands = CLI[chapter](preset, parameters) if chapter in CLI else []
    except LMCError:
        commands = []
    if commands:
        lines += ["", "The same results without the notebook (same run cache):", ""]
        lines += [f"    {c}" for c in commands]
    lines += ["", "Replace `" + preset + "` by `paper` for the paper's protocol (3 initializations × "
              "3 data-order pairs, every network of Table 1; see {doc}`/book/how_to_reproduce`).", "",
              "| preset | on a CPU (2 cores) | on a GPU |", "|---|---|---|"]
    for name in dict.fromkeys([preset, "quick", "paper"]):
        times = expected_times(chapter, name, results_dir)
        lines.append(f"| `{name}` | {times['cpu']} | {times['gpu']} |")
    lines += ["", "Times are from an empty run cache; every run is cached, so a second execution only "
              "re-draws the figures.", "",
              f"Source notebook: {{download}}`{chapter}.ipynb </chapters/{chapter}.ipynb>`"]
    if downloads:
        lines += ["", "Result files of this page (netCDF; `xarray.open_dataset` reads them, with their "
                  "configuration and software versions as attributes): "
                  + ", ".join(f"{{download}}`{name} <{RESULT_COPIES}/{name}>`" for name in downloads)]
    lines.append("```")
    return "\n".join(lines)


# Results a chapter reads besides its own (lmc.core.paths): the stand-in search's shards.
EXTRA_RESULTS = {"a_s_choosing_the_stand_in": lambda results_dir: sorted(paths.standin_folder(results_dir).glob("*.nc"))}
RESULT_COPIES = "results"  # beside the executed chapters: book/chapters/results/<preset>/...


def result_files(chapter: str, preset: str, results_dir: Path) -> list[str]:
    """The result files a chapter page offers for download, relative to ``results_dir``: what
    it wrote with ``preset``, the paper-protocol archive's shards of it (when the page is not
    itself built with ``paper``) and the results it reads besides (``EXTRA_RESULTS``); not
    the earlier results that ``results.save`` kept beside newer ones."""
    results_dir = Path(results_dir)
    found = sorted(paths.chapter_results(results_dir, preset, chapter))
    if preset != "paper":
        found += sorted(paths.chapter_results(results_dir, "paper", chapter))
    found += EXTRA_RESULTS.get(chapter, lambda _: [])(results_dir)
    return list(dict.fromkeys(path.relative_to(results_dir).as_posix() for path in found
                              if path.is_file() and not results.is_kept(path)))


def copy_results(chapter: str, preset: str, results_dir: Path, folder: Path) -> list[str]:
    """Copy :func:`result_files` next to the executed chapters (``folder/results/...``, inside
    the book's sources wherever ``results_dir`` is, so the build can offer them); returns them."""
    names = result_files(chapter, preset, results_dir)
    for name in names:
        target = Path(folder) / RESULT_COPIES / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(results_dir) / name, target)
    return names


def add_rerun_box(executed: Path, box: str) -> None:
    """Put ``box`` under the title of an executed chapter (replacing an earlier box), and show
    the parameters once, with the values the page was built with (:func:`built_parameters`)."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    nb.cells = [c for c in nb.cells if "rerun-box" not in c.metadata.get("tags", [])]
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, nbformat.v4.new_markdown_cell(box, metadata={"tags": ["rerun-box"]}))
    built_parameters(nb)
    nbformat.write(nb, str(executed))


def _assigned(source: str) -> dict[str, tuple[int, int, int, int]]:
    """Where each top-level ``name = value`` of a cell puts its value: name -> (first line,
    first column, last line, end column), lines counted from 0."""
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            spans[node.targets[0].id] = (value.lineno - 1, value.col_offset, value.end_lineno - 1, value.end_col_offset)
    return spans


def built_parameters(nb) -> None:
    """Fold papermill's injected cell into the chapter's ``parameters`` cell, in place.

    papermill keeps the source cell (the defaults) and adds an "injected-parameters" cell
    below it with the values given, so a page would show ``preset = "quick"`` and then
    ``preset = "smoke"``. Here every injected value replaces its default in the source cell,
    which keeps its comments; a value the source cell does not declare is appended; the
    injected cell goes. Executed outputs are untouched: the kernel ran both cells already.
    """
    cells = nb.cells
    injected = next((c for c in cells if "injected-parameters" in c.metadata.get("tags", [])), None)
    source = next((c for c in cells if "parameters" in c.metadata.get("tags", [])), None)
    if injected is None or source is None:
        return
    given_lines = injected.source.splitlines()
    given = {name: "\n".join([given_lines[a][b:d]] if a == c else
                             [given_lines[a][b:], *given_lines[a + 1:c], given_lines[c][:d]])
             for name, (a, b, c, d) in _assigned(injected.source).items()}
    lines = source.source.splitlines()
    spans = _assigned(source.source)
    # replace from the last assignment up, so earlier spans keep their positions
    for name, (a, b, c, d) in sorted(spans.items(), key=lambda item: item[1], reverse=True):
        if name in given:
            lines[a:c + 1] = (lines[a][:b] + given[name] + lines[c][d:]).splitlines()
    extra = [f"{name} = {value}" for name, value in given.items() if name not in spans]
    source.source = "\n".join(lines + extra)
    cells.remove(injected)


def toc_documents(root: Path = ROOT) -> set[str]:
    """The documents listed in ``_toc.yml`` (``book/intro``, ``book/chapters/01_...``)."""
    import yaml

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                yield str(node["file"]).removesuffix(".md").removesuffix(".ipynb")
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    return {str(toc["root"]).removesuffix(".md")} | set(walk(toc.get("parts", toc.get("chapters", []))))


def write_front_matter(root: Path = ROOT, results_dir: Path | None = None) -> Path:
    """Write what the frame pages include into ``book/_generated/``: the status table (from the
    results) and the instability-analysis diagram for the introduction, and the outline of every
    chapter (parameters, functions called) for the "Modify a chapter" page; returns that folder."""
    import matplotlib.pyplot as plt

    from . import plots, status

    root = Path(root)
    folder = root / GENERATED
    folder.mkdir(parents=True, exist_ok=True)
    table = status.status_markdown(Path(results_dir or root / "results"), chapters(root), toc_documents(root))
    (folder / "status.md").write_text(table)
    (folder / "claims.md").write_text(status.claims_markdown(Path(results_dir or root / "results")))
    (folder / "chapter_outline.md").write_text(status.outline_markdown(chapters(root)))
    fig = plots.instability_diagram()
    fig.savefig(folder / "instability_diagram.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return folder


def build(preset: str = presets.DEFAULT, results_dir: Path | None = None, only=None,
          run: bool = True, strict: bool = False, parameters: dict | None = None,
          root: Path = ROOT, jobs: int = 1) -> Path:
    """Execute the chapters (``run``) and build the HTML book; returns the HTML folder.

    ``jobs`` chapters execute at once, each in its own process with an equal share of the
    CPU cores as torch threads (``_execute_all``); chapters that need the same run share it
    through the run cache's locks, and one that fails leaves the others running.

    ``root`` is the book's source tree (``_config.yml``, ``_toc.yml``, ``book/``,
    ``chapters/``): the repository, or a copy of it (the tests build in a copy so a
    book you built is never replaced). ``strict`` treats Sphinx warnings as errors.
    ``only`` names the chapters to execute (``select``); it is checked with or without
    ``run``, so an unknown chapter is the same error either way and builds nothing.
    """
    presets.get(preset)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer ≥ 1 (chapters executed at once), got {jobs!r}")
    root = Path(root).resolve()
    results_dir = Path(results_dir or root / "results").resolve()
    out = root / "book"
    # a results folder inside the book is passed relative to it: the rendered pages show it so
    shown = os.path.relpath(results_dir, root)
    shown = results_dir if shown.startswith("..") else shown
    chosen = select(only, root)  # before anything is executed or built, with or without run
    if run:
        from ..experiments.instability import resolve_device

        for chapter in chosen:  # every chapter's parameters are checked before any runs
            check_parameters(chapter, {"preset": preset, "results_dir": "", **(parameters or {})})
        device = resolve_device((parameters or {}).get("device", "auto"))  # recorded with the times
        values = {"preset": preset, "results_dir": str(shown), **(parameters or {})}
        failed = []
        for chapter, seconds, error in _execute_all(chosen, out / "chapters", values, jobs):
            if error:
                failed.append(f"{chapter.name} ({error})")
                continue
            record_time(results_dir, preset, chapter.stem, seconds, device, jobs)
            downloads = copy_results(chapter.stem, preset, results_dir, out / "chapters")
            add_rerun_box(out / "chapters" / chapter.name,
                          rerun_box(chapter.stem, preset, parameters, results_dir, downloads))
            print(f"  {chapter.name} done in {seconds:.0f} s", flush=True)
        if failed:  # the other chapters ran to the end: their runs and results are kept
            raise LMCError(f"{len(failed)} chapter(s) failed: {'; '.join(failed)}")
    missing = [p.name for p in chapters(root) if not (out / "chapters" / p.name).exists()]
    if missing:
        raise LMCError(f"chapters not executed yet: {', '.join(missing)}; run `lmc book` "
                       f"without --no-execute")
    write_front_matter(root, results_dir)
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    command = [jb, "build", str(root), "--path-output", str(out)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    completed = subprocess.run(command, cwd=root)
    if completed.returncode != 0:
        raise LMCError(f"jupyter-book build failed (exit {completed.returncode}); see its output above")
    html = out / "_build" / "html"
    # the root index.html only redirects; a browser may ask for /favicon.ico before it follows
    shutil.copy(root / "book" / "favicon.png", html / "favicon.ico")
    return html
