"""The book: execute every chapter with papermill, then build HTML with Jupyter Book.

Sources live in ``chapters/`` without outputs; executed copies are written to
``book/chapters/`` and rendered into ``book/_build/html``. This thin wrapper is the
one place that knows how notebooks are run, so the runner can be swapped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import presets
from .errors import ConfigError, LMCError

ROOT = Path(__file__).resolve().parent.parent


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter source notebooks under ``root/chapters``, in book order."""
    if not (root / "chapters").is_dir():
        raise LMCError(f"no chapters/ folder in {root}; building the book needs a checkout "
                       f"of the repository")
    return sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))


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


def execute(chapter: Path, output: Path, parameters: dict, progress: bool = True) -> Path:
    """Run one chapter notebook with papermill ``parameters``; the executed copy goes to ``output``.

    A parameter the chapter does not declare is refused before anything runs (papermill
    itself would only log a warning and inject it).
    """
    import papermill

    known = papermill.inspect_notebook(str(chapter))
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ConfigError(f"{chapter.name} has no parameter {', '.join(map(repr, unknown))}; "
                          f"its parameters: {', '.join(known)}")
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(chapter), str(output), parameters=parameters,
                               cwd=str(chapter.parent.parent),
                               progress_bar=progress, kernel_name="python3")
    return output


def build(preset: str = presets.DEFAULT, results_dir: Path | None = None, only=None,
          run: bool = True, strict: bool = False, parameters: dict | None = None,
          root: Path = ROOT) -> Path:
    """Execute the chapters (``run``) and build the HTML book; returns the HTML folder.

    ``root`` is the book's source tree (``_config.yml``, ``_toc.yml``, ``book/``,
    ``chapters/``): the repository, or a copy of it (the tests build in a copy so a
    book you built is never replaced). ``strict`` treats Sphinx warnings as errors.
    """
    presets.get(preset)
    root = Path(root).resolve()
    results_dir = Path(results_dir or root / "results").resolve()
    out = root / "book"
    # a results folder inside the book is passed relative to it: the rendered pages show it so
    shown = os.path.relpath(results_dir, root)
    shown = results_dir if shown.startswith("..") else shown
    if run:
        for chapter in select(only, root):
            start = time.time()
            print(f"executing {chapter.name} with preset {preset!r} ...", flush=True)
            execute(chapter, out / "chapters" / chapter.name,
                    {"preset": preset, "results_dir": str(shown), **(parameters or {})})
            print(f"  done in {time.time() - start:.0f} s", flush=True)
    missing = [p.name for p in chapters(root) if not (out / "chapters" / p.name).exists()]
    if missing:
        raise LMCError(f"chapters not executed yet: {', '.join(missing)}; run `lmc book` "
                       f"without --no-execute")
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    command = [jb, "build", str(root), "--path-output", str(out)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    completed = subprocess.run(command, cwd=root)
    if completed.returncode != 0:
        raise LMCError(f"jupyter-book build failed (exit {completed.returncode}); see its output above")
    return out / "_build" / "html"
