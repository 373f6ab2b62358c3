"""The book: execute every chapter with papermill, then build HTML with Jupyter Book.

Sources live in ``chapters/`` without outputs; executed copies are written to
``book/chapters/`` and rendered into ``book/_build/html``. This thin wrapper is the
one place that knows how notebooks are run, so the runner can be swapped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import presets
from .errors import ConfigError, LMCError

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
BOOK = ROOT / "book"


def chapters() -> list[Path]:
    """The chapter source notebooks, in book order."""
    if not CHAPTERS.is_dir():
        raise LMCError(f"no chapters/ folder beside the lmc package ({ROOT}); "
                       f"building the book needs a checkout of the repository")
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def select(names=None) -> list[Path]:
    """Chapters whose file name starts with one of ``names`` (all when None)."""
    found = chapters()
    if not names:
        return found
    chosen = [p for p in found if any(p.stem.startswith(str(n)) for n in names)]
    if len(chosen) == 0:
        raise ConfigError(f"no chapter matches {list(names)}; chapters: "
                          f"{', '.join(p.stem for p in found)}")
    return chosen


def execute(chapter: Path, output: Path, parameters: dict, progress: bool = False) -> Path:
    """Run one chapter notebook with papermill ``parameters``; the executed copy goes to ``output``."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(chapter), str(output), parameters=parameters, cwd=str(ROOT),
                               progress_bar=progress, kernel_name="python3")
    return output


def build(preset: str = presets.DEFAULT, results_dir: Path | None = None, only=None,
          run: bool = True, strict: bool = False, parameters: dict | None = None) -> Path:
    """Execute the chapters (``run``) and build the HTML book; returns the HTML folder.

    ``strict`` treats every Sphinx warning as an error (as the tests do).
    """
    presets.get(preset)
    results_dir = Path(results_dir or ROOT / "results").resolve()
    if run:
        for chapter in select(only):
            start = time.time()
            print(f"executing {chapter.name} with preset {preset!r} ...", flush=True)
            execute(chapter, BOOK / "chapters" / chapter.name,
                    {"preset": preset, "results_dir": str(results_dir), **(parameters or {})})
            print(f"  done in {time.time() - start:.0f} s", flush=True)
    missing = [p.name for p in chapters() if not (BOOK / "chapters" / p.name).exists()]
    if missing:
        raise LMCError(f"chapters not executed yet: {', '.join(missing)}; run `lmc book` "
                       f"without --no-execute")
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-book")
    command = [jb, "build", str(ROOT), "--path-output", str(BOOK)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    completed = subprocess.run(command, cwd=ROOT)
    if completed.returncode != 0:
        raise LMCError(f"jupyter-book build failed (exit {completed.returncode}); see its output above")
    return BOOK / "_build" / "html"
