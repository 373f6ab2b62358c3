"""The run cache: content-addressed runs, atomic writes, one lock per run.

A run's identity is the hash of its canonical configuration (sorted-key JSON with
a schema version), so asking twice for the same thing finds the same directory:
``<cache>/runs/<hash>/`` holds ``config.json``, named checkpoints
``checkpoints/<step>.pt``, a rolling ``resume.pt`` for interrupted training, and
cached results (``result.json``). This module is the one place that names files.
Every write goes to a temporary file in the same directory, is fsynced, then
renamed over the target, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
        return self.path / "resume.pt"

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

def atomic_write(path: Path, payload: bytes | Callable[[Path], None]) -> None:
    """Write ``path`` atomically: temporary file in the same folder, fsync, rename.

    ``payload`` is bytes, or a function that writes a file at the path it is given.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise CacheError(f"cannot write {path}: {e.strerror or e}; choose a writable folder "
                         f"(LMC_CACHE_DIR for the run cache)") from e
    try:
        if callable(payload):
            os.close(fd)
            fd = None
            payload(Path(tmp))
            fd = os.open(tmp, os.O_RDONLY)
        else:
            os.write(fd, payload)
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except OSError as e:
        raise CacheError(f"cannot write {path}: {e.strerror or e}; free space or choose another "
                         f"folder (LMC_CACHE_DIR for the run cache)") from e
    finally:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# --- runs -------------------------------------------------------------------------------------

def open_run(config: dict, root: Path | None = None) -> Run:
    """The run for ``config``, its directory and ``config.json`` created if new."""
    h = config_hash(config)
    path = Path(root or cache_dir()) / "runs" / h
    record = path / "config.json"
    if record.exists():
        stored = json.loads(record.read_text())
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
    return open_run(json.loads(record.read_text())["config"], root)


@contextlib.contextmanager
def lock(run: Run):
    """Hold the run's lock: a second process asking for the same run waits, then reuses it."""
    run.path.mkdir(parents=True, exist_ok=True)
    with open(run.path / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load(path: Path, device) -> dict | None:
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=True)


def save_checkpoint(run: Run, state: dict) -> None:
    """Save ``state`` (with its ``step``) as a named checkpoint of the run."""
    atomic_write(run.checkpoint_path(state["step"]), _torch_bytes(state))


def load_checkpoint(run: Run, step: int, device="cpu") -> dict | None:
    """The named checkpoint at ``step``, or None."""
    return _load(run.checkpoint_path(step), device)


def save_resume_point(run: Run, state: dict) -> None:
    """Replace the run's rolling resume point with ``state``."""
    atomic_write(run.resume_path, _torch_bytes(state))


def latest_state(run: Run, at_most: int, device="cpu") -> dict | None:
    """The latest saved state (named checkpoint or resume point) at or before ``at_most``."""
    candidates = [s for s in run.checkpoints() if s <= at_most]
    best = _load(run.checkpoint_path(max(candidates)), device) if candidates else None
    resume = _load(run.resume_path, device)
    if resume is not None and resume["step"] <= at_most and (best is None or resume["step"] > best["step"]):
        return resume
    return best


def clear_resume_point(run: Run, at_most: int) -> None:
    """Delete the resume point if a named checkpoint now covers it (its step ≤ ``at_most``)."""
    resume = _load(run.resume_path, "cpu")
    if resume is not None and resume["step"] <= at_most:
        run.resume_path.unlink()


def save_mask(run: Run, mask: dict) -> None:
    """Store a pruning mask (name → boolean tensor) as the result of ``run``."""
    atomic_write(run.mask_path, _torch_bytes({k: v.cpu() for k, v in mask.items()}))


def load_mask(run: Run, device="cpu") -> dict | None:
    """The pruning mask stored by ``run``, or None."""
    return _load(run.mask_path, device)


def cached(config: dict, compute: Callable[[], dict], root: Path | None = None) -> dict:
    """The JSON result of ``config``: read from the cache, or computed once and stored."""
    run = open_run(config, root)
    if run.result_path.exists():
        return json.loads(run.result_path.read_text())
    with lock(run):
        if run.result_path.exists():
            return json.loads(run.result_path.read_text())
        result = compute()
        atomic_write(run.result_path, json.dumps(result).encode())
        return result
