"""The run cache: content-addressed runs, atomic writes, one lock per run.

A run's identity is the hash of its canonical configuration (sorted-key JSON with
a schema version), so asking twice for the same thing finds the same directory:
``<cache>/runs/<hash>/`` holds ``config.json``, named checkpoints
``checkpoints/<step>.pt``, the latest resume point ``resume/<step>.pt`` of an
interrupted training, and cached results (``result.json``). This module is the one
place that names files.

Every write goes to a temporary file in the same directory, is fsynced, then renamed
over the target (and the directory fsynced), so a reader never sees half a file.
State files are written once, each after its sidecar ``<file>.sha256`` (checksum and
step); a file that does not match its checksum or cannot be read is moved to the
run's ``corrupt/`` folder with a warning, and the run falls back to the previous good
state.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import CacheError

SCHEMA = 1  # bump when the meaning of a stored run changes; old runs then stop matching


def cache_dir() -> Path:
    """The cache root: ``$LMC_CACHE_DIR``, else ``$XDG_CACHE_HOME/lmc``."""
    if os.environ.get("LMC_CACHE_DIR"):
        return Path(os.environ["LMC_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "lmc"


def canonical(config: dict) -> str:
    """The canonical JSON text of a configuration (what is hashed)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(config: dict) -> str:
    """The run identity: first 16 hex digits of sha256 of the canonical config with schema."""
    return hashlib.sha256(canonical({"schema": SCHEMA, **config}).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Run:
    """A run directory in the cache and the configuration it was created for."""

    hash: str
    config: dict
    path: Path

    def checkpoint_path(self, step: int) -> Path:
        return self.path / "checkpoints" / f"{step:09d}.pt"

    @property
    def resume_path(self) -> Path:
        """The folder of the rolling resume point (absent when no training was cut off)."""
        return self.path / "resume"

    def resume_points(self) -> list[int]:
        """Steps with a resume point (normally at most one)."""
        folder = self.resume_path
        return sorted(int(p.stem) for p in folder.glob("*.pt")) if folder.is_dir() else []

    @property
    def result_path(self) -> Path:
        return self.path / "result.json"

    @property
    def mask_path(self) -> Path:
        return self.path / "mask.pt"

    def checkpoints(self) -> list[int]:
        """Steps with a saved named checkpoint."""
        folder = self.path / "checkpoints"
        return sorted(int(p.stem) for p in folder.glob("*.pt")) if folder.is_dir() else []


# --- atomic files -----------------------------------------------------------------------------

_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK  # what open() would give a new file


def atomic_write(path: Path, payload: bytes | Callable[[Path], None]) -> None:
    """Write ``path`` atomically: temporary file in the same folder, fsync, rename.

    ``payload`` is bytes, or a function that writes a file at the path it is given.
    """
    path = Path(path)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    fd, tmp = None, None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        if callable(payload):
            os.close(fd)
            fd = None
            payload(Path(tmp))
            fd = os.open(tmp, os.O_RDONLY)
        else:
            view = memoryview(payload)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; others sharing the cache or results read it
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        _undo(fd, tmp, created)
        raise CacheError(f"cannot write {path}: {e.strerror or e}; free space or choose a writable "
                         f"folder (LMC_CACHE_DIR for the run cache, --out for results)") from e
    except BaseException:
        _undo(fd, tmp, created)
        raise


def _undo(fd, tmp, created) -> None:
    """Remove what a failed ``atomic_write`` left: its descriptor, temporary file, new folders."""
    if fd is not None:
        os.close(fd)
    if tmp is not None and os.path.exists(tmp):
        os.unlink(tmp)
    for folder in created:  # deepest first; only the empty ones it made
        with contextlib.suppress(OSError):
            folder.rmdir()


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: fsync the directory itself)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- runs -------------------------------------------------------------------------------------

def _read_record(record: Path) -> dict:
    """A run's ``config.json``; a CacheError says what to do if it cannot be read."""
    try:
        stored = json.loads(record.read_text())
        if not isinstance(stored, dict) or "config" not in stored:
            raise ValueError("no configuration in it")
        return stored
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e).splitlines()[0]
        raise CacheError(f"cannot read the run record {record} ({reason}); delete the folder "
                         f"{record.parent} (its run is recomputed) or set LMC_CACHE_DIR to a new "
                         f"folder") from e


def open_run(config: dict, root: Path | None = None) -> Run:
    """The run for ``config``, its directory and ``config.json`` created if new."""
    h = config_hash(config)
    path = Path(root or cache_dir()) / "runs" / h
    record = path / "config.json"
    if record.exists():
        stored = _read_record(record)
        if stored.get("schema") != SCHEMA or canonical(stored["config"]) != canonical(config):
            raise CacheError(f"run {path} holds a different configuration (schema "
                             f"{stored.get('schema')}, lmc expects {SCHEMA}); move the cache "
                             f"aside or set LMC_CACHE_DIR to a new folder")
    else:
        atomic_write(record, json.dumps({"schema": SCHEMA, "config": config}, indent=1,
                                        sort_keys=True).encode())
    return Run(h, config, path)


def get(run_hash: str, root: Path | None = None) -> Run:
    """The run stored under ``run_hash`` (its configuration read from ``config.json``)."""
    record = Path(root or cache_dir()) / "runs" / run_hash / "config.json"
    if not record.exists():
        raise CacheError(f"no run {run_hash} in {record.parent.parent}; was the cache moved?")
    return open_run(_read_record(record)["config"], root)


_held: set[Path] = set()  # run folders whose lock this process holds


@contextlib.contextmanager
def lock(run: Run):
    """Hold the run's lock: a second process asking for the same run waits, then reuses it."""
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        (run.path / ".lock").touch()
    except OSError as e:
        raise CacheError(f"cannot lock {run.path}: {e.strerror or e}; choose a writable folder "
                         f"with LMC_CACHE_DIR") from e
    with open(run.path / ".lock") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _held.add(run.path)
        for folder in ("checkpoints", "resume"):  # temporary files of a writer that was killed
            for tmp in (run.path / folder).glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        try:
            yield
        finally:
            _held.discard(run.path)
            fcntl.flock(f, fcntl.LOCK_UN)


# --- checked checkpoints ----------------------------------------------------------------------

def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _save(path: Path, state: dict) -> None:
    """Write a state file after its sidecar (sha256 and step).

    A kill between the two leaves a sidecar without its file, which nothing reads; a
    file is therefore never without its checksum (except in caches older than checksums).
    """
    raw = _torch_bytes(state)
    atomic_write(_sidecar(path), json.dumps({"sha256": hashlib.sha256(raw).hexdigest(),
                                             "step": int(state["step"])}).encode())
    atomic_write(path, raw)


def _recorded(path: Path) -> dict | None:
    """The sidecar of a state file (its sha256 and step), or None if missing or unreadable."""
    try:
        return json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return None


def _load(path: Path, device) -> dict | None:
    """A state file, or None if it is missing, truncated, unreadable or fails its checksum."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    recorded = _recorded(path)
    if recorded is not None and hashlib.sha256(raw).hexdigest() != recorded.get("sha256"):
        _discard(path, f"its sha256 does not match the one recorded ({len(raw)} bytes)")
        return None
    try:
        return torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 -- a damaged file fails in many ways (zip, pickle, EOF)
        _discard(path, f"it cannot be read ({type(e).__name__})")
        return None


def _discard(path: Path, why: str) -> None:
    """Move a damaged state file aside (only while holding its run's lock) and warn; returns None."""
    run_path = next((p for p in path.parents if p in _held), None)
    if run_path is None:
        return  # a reader without the lock leaves it to the one that holds it
    aside = run_path / "corrupt" / f"{path.parent.name}-{path.name}.{time.time_ns()}"
    try:
        aside.parent.mkdir(exist_ok=True)
        os.replace(path, aside)
        _sidecar(path).unlink(missing_ok=True)
    except OSError as e:
        raise CacheError(f"{path} is damaged ({why}) and cannot be moved aside ({e.strerror or e}); "
                         f"delete it by hand") from e
    warnings.warn(f"discarded {path}: {why}; moved it to {aside}; the run continues from the "
                  f"previous good state", stacklevel=3)


def save_checkpoint(run: Run, state: dict) -> None:
    """Save ``state`` (with its ``step``) as a named checkpoint of the run."""
    _save(run.checkpoint_path(state["step"]), state)


def load_checkpoint(run: Run, step: int, device="cpu") -> dict | None:
    """The named checkpoint at ``step``, or None (also when it is damaged: see ``_load``)."""
    return _load(run.checkpoint_path(step), device)


def _resume_file(run: Run, step: int) -> Path:
    return run.resume_path / f"{step:09d}.pt"


def _remove_resume_points(run: Run, keep=lambda step: False) -> None:
    """Delete resume points (each file before its sidecar) except those whose step ``keep`` says."""
    for p in sorted(run.resume_path.glob("[0-9]*.pt*")):
        if not keep(int(p.name.split(".")[0])):
            p.unlink(missing_ok=True)


def save_resume_point(run: Run, state: dict) -> None:
    """Save ``state`` as the run's resume point, then delete the older ones."""
    _save(_resume_file(run, state["step"]), state)
    _remove_resume_points(run, keep=lambda step: step == state["step"])


def latest_state(run: Run, at_most: int, device="cpu") -> dict | None:
    """The latest good saved state (named checkpoint or resume point) at or before ``at_most``.

    Damaged files are discarded and the next older one is tried; None: start from the beginning.
    """
    saved = [(s, run.checkpoint_path(s)) for s in run.checkpoints()]
    saved += [(s, _resume_file(run, s)) for s in run.resume_points()]
    for _, path in sorted((s for s in saved if s[0] <= at_most), reverse=True):
        state = _load(path, device)
        if state is not None:
            return state
    return None


def clear_resume_point(run: Run, at_most: int) -> None:
    """Delete the resume points that a named checkpoint now covers (steps ≤ ``at_most``)."""
    _remove_resume_points(run, keep=lambda step: step > at_most)
    with contextlib.suppress(OSError):  # the folder goes once it is empty
        run.resume_path.rmdir()


def _read_result(run: Run) -> dict | None:
    try:
        return json.loads(run.result_path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        _discard(run.result_path, f"it cannot be read ({e})")
        return None


def save_mask(run: Run, mask: dict) -> None:
    """Store a pruning mask (name → boolean tensor) as the result of ``run`` (checksummed)."""
    _save(run.mask_path, {"step": 0, "mask": {k: v.cpu() for k, v in mask.items()}})


def load_mask(run: Run, device="cpu") -> dict | None:
    """The pruning mask stored by ``run``, or None (missing or damaged)."""
    stored = _load(run.mask_path, device)
    return None if stored is None else stored["mask"]


def cached(config: dict, compute: Callable[[], dict], root: Path | None = None) -> dict:
    """The JSON result of ``config``: read from the cache, or computed once and stored.

    A second process asking at the same time waits on the run's lock, then reads the result.
    """
    run = open_run(config, root)
    result = _read_result(run)
    if result is not None:
        return result
    with lock(run):
        result = _read_result(run)
        if result is not None:
            return result
        result = compute()
        atomic_write(run.result_path, json.dumps(result).encode())
        return result
