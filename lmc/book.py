"""The book: execute every chapter with papermill, then build HTML with Jupyter Book.

Sources live in ``chapters/`` without outputs; executed copies are written to
``book/chapters/`` and rendered into ``book/_build/html``. This thin wrapper is the
one place that knows how notebooks are run, so the runner can be swapped.
"""

from __future__ import annotations

import ast
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
    """The chapter source notebooks under ``root/chapters``, in book order: the numbered
    chapters (``01_…``), then the appendices (``a_b_…`` for Appendix B), which sort after them."""
    if not (root / "chapters").is_dir():
        raise LMCError(f"no chapters/ folder in {root}; building the book needs a checkout "
                       f"of the repository")
    folder = root / "chapters"
    return sorted([*folder.glob("[0-9][0-9]_*.ipynb"), *folder.glob("a_[a-z]_*.ipynb")])


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


def build(preset: str = presets.DEFAULT, results_dir: Path | None = None, only=None,
          run: bool = True, strict: bool = False, parameters: dict | None = None,
          root: Path = ROOT) -> Path:
    """Execute the chapters (``run``) and build the HTML book; returns the HTML folder.

    ``root`` is the book's source tree (``_config.yml``, ``_toc.yml``, ``book/``,
    ``chapters/``): the repository, or a copy of it (the tests build in a copy so a
    book you built is never replaced). ``strict`` treats Sphinx warnings as errors.
    """
    from papermill.exceptions import PapermillExecutionError

    presets.get(preset)
    root = Path(root).resolve()
    results_dir = Path(results_dir or root / "results").resolve()
    out = root / "book"
    # a results folder inside the book is passed relative to it: the rendered pages show it so
    shown = os.path.relpath(results_dir, root)
    shown = results_dir if shown.startswith("..") else shown
    if run:
        chosen = select(only, root)
        for chapter in chosen:  # every chapter's parameters are checked before any runs
            check_parameters(chapter, {"preset": preset, "results_dir": "", **(parameters or {})})
        for chapter in chosen:
            start = time.time()
            print(f"executing {chapter.name} with preset {preset!r} ...", flush=True)
            output = out / "chapters" / chapter.name
            try:
                execute(chapter, output, {"preset": preset, "results_dir": str(shown), **(parameters or {})})
            except PapermillExecutionError as e:
                raise LMCError(f"{chapter.name} failed: {e.ename}: {e.evalue}; the executed copy "
                               f"with the traceback is {output}") from e
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
