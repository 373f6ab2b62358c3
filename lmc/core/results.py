"""Results as data: xarray Datasets with provenance, saved as netCDF.

Every result carries its full configuration (as canonical JSON), the preset, the
versions of lmc and its numerical libraries, the device (for a CPU: its model, the
instruction set torch's kernels use and torch's thread count, which together decide
the summation order and so the exact numbers) and the time it was made.
Saving never silently replaces a different result: an existing file computed from
another configuration is kept beside the new one under its configuration hash, one
computed from the same configuration elsewhere under a name saying where and when.
"""

from __future__ import annotations

import datetime
import functools
import json
import platform
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .. import __version__
from . import store
from .errors import DataError


@functools.cache
def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 7B13", from /proc/cpuinfo on Linux), else what
    ``platform`` knows (on Linux often only the architecture, "x86_64")."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_capability() -> str:
    """The CPU instruction set torch's kernels use here ("AVX2", "AVX512", "DEFAULT" ...)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # torch older than 2.1
        return "unknown"


def provenance(config: dict, device: str) -> dict:
    """Attributes recording what produced a result: configuration, versions, device, time.

    ``cpu``, ``cpu_capability`` and ``torch_threads`` are recorded whatever the device:
    on a CPU they decide the order of floating-point sums, and so whether another
    machine can reproduce the numbers bit for bit.
    """
    return {
        "config": store.canonical(config),
        "config_hash": store.config_hash(config),
        "preset": config.get("preset", ""),
        "lmc_version": __version__,
        "torch_version": str(torch.__version__),
        "numpy_version": np.__version__,
        "xarray_version": xr.__version__,
        "python_version": platform.python_version(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device)
        if str(device).startswith("cuda") and torch.cuda.is_available()
        else (platform.processor() or platform.machine()),
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def config_of(ds: xr.Dataset | dict) -> dict:
    """The configuration a result was computed from: of a dataset, or of its attributes as
    ``attributes`` reads them from the file."""
    return json.loads((ds if isinstance(ds, dict) else ds.attrs)["config"])


def is_kept(path: str | Path) -> bool:
    """Whether ``path`` is an earlier result that ``save`` kept beside a newer one:
    ``<name>.<config hash>.nc`` (another configuration) or ``<name>.<config hash>.<where>-<when>.nc``
    (the same configuration computed elsewhere). Result names have no dot before ``.nc``;
    kept names always do."""
    return "." in Path(path).stem


def _safe(text: str) -> str:
    """``text`` usable in a file name: runs of characters other than [A-Za-z0-9._-] become "_"."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "unknown"


def _where_when(attrs: dict) -> str:
    """Where and when a result was computed, for a file name: the GPU's name, or on a CPU the
    instruction set torch used (else the machine) and torch's thread count; then the UTC time
    it was created, e.g. ``AVX2-2threads-20261201T101500Z``."""
    if str(attrs.get("device", "")).startswith("cuda"):
        where = attrs.get("device_name") or "cuda"
    else:
        where = attrs.get("cpu_capability") or attrs.get("device_name") or "unknown"
        if attrs.get("torch_threads") not in (None, ""):
            where = f"{where}-{attrs['torch_threads']}threads"
    created = str(attrs.get("created", ""))
    try:
        when = datetime.datetime.fromisoformat(created).astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    except ValueError:
        when = created or "undated"
    return _safe(f"{where}-{when}")


def _kept_path(path: Path, old_attrs: dict, new_hash: str | None) -> Path:
    """The free name under which ``save`` keeps the result in ``path`` (attributes ``old_attrs``)
    before writing one with configuration hash ``new_hash``: ``<stem>.<old hash>.nc`` when the
    configurations differ, ``<stem>.<hash>.<where>-<when>.nc`` when they are the same (so two
    files never carry names that say they are the same experiment); ``-2``, ``-3`` ... if taken."""
    old_hash = _safe(old_attrs.get("config_hash", "unknown"))
    tag = old_hash if old_attrs.get("config_hash") != new_hash else f"{old_hash}.{_where_when(old_attrs)}"
    kept = path.with_name(f"{path.stem}.{tag}{path.suffix}")
    n = 1
    while kept.exists():
        n += 1
        kept = path.with_name(f"{path.stem}.{tag}-{n}{path.suffix}")
    return kept


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` as netCDF, atomically; returns the path.

    If ``path`` holds other numbers, that file is first renamed (and a warning says so):
    nothing already computed is overwritten. Computed from another configuration, it is
    kept as ``<stem>.<its config hash>.nc``; from the same configuration (on another
    machine, CPU instruction set or thread count: other summation orders), as
    ``<stem>.<config hash>.<where>-<when>.nc`` from its own provenance (``_where_when``).
    The same numbers from the same configuration leave the existing file untouched.
    """
    path = Path(path)
    if path.exists():
        with xr.open_dataset(path, engine="h5netcdf") as old:
            old_attrs = dict(old.attrs)
            same_config = old_attrs.get("config_hash") == ds.attrs.get("config_hash")
            unchanged = same_config and old.load().equals(ds)
        if unchanged:  # the same numbers from the same configuration: keep the file and its date
            return path
        kept = _kept_path(path, old_attrs, ds.attrs.get("config_hash"))
        path.rename(kept)
        if same_config:
            warnings.warn(f"{path} held other numbers from the same configuration "
                          f"{old_attrs.get('config_hash')} (computed on {_where_when(old_attrs)}; this "
                          f"result on {_where_when(dict(ds.attrs))}); kept it as {kept}", stacklevel=2)
        else:
            warnings.warn(f"{path} held other numbers (configuration {old_attrs.get('config_hash', 'unknown')}); "
                          f"kept it as {kept}", stacklevel=2)
    store.atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    return path


def computed_or_archived(compute, path, what: str = "", command: str | None = None) -> tuple[xr.Dataset | None, str]:
    """(result, note): ``compute()``, saved at ``path`` (``save``); if its data set is not on this
    machine (``DataError``), the result archived at ``path`` with a note saying where and when it was
    computed, or None with a note saying what is missing and, given ``command``, what computes it.
    ``what`` (a network's name) opens the notes."""
    prefix = f"{what}: " if what else ""
    try:
        ds = compute()
    except DataError as error:
        if Path(path).exists():
            ds = load(path)
            return ds, (f"{prefix}rendered from the archived {path} (computed on "
                        f"{ds.attrs.get('device_name', '?')}, {ds.attrs.get('created', '?')})")
        return None, f"not computed yet: {prefix}{error}" + (f" — then run: {command}" if command else "")
    save(ds, path)
    return ds, ""


def load(path: str | Path) -> xr.Dataset:
    """A saved result, loaded into memory (the file is closed again)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def attributes(path: str | Path) -> dict:
    """A saved result's attributes (configuration, versions, timings) as ``load`` gives them, read
    from the file's header alone (h5py, which h5netcdf writes with): for listings over many files,
    where opening each as a dataset costs about 50 times as much. netCDF's internal attributes
    (``_NCProperties``) are left out."""
    import h5py  # installed with h5netcdf

    def plain(value):
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, np.ndarray) and value.size == 1:
            return value.item()
        return value.item() if isinstance(value, np.generic) else value

    with h5py.File(path, "r") as f:
        return {key: plain(value) for key, value in f.attrs.items() if not key.startswith("_")}


def mean_std(values, digits: int = 2, unit: str = "pair") -> str:
    """"mean ± std" of the values (sample std), or "mean (one <unit>)" for a single one."""
    flat = np.asarray(values).ravel()
    if flat.size == 1:
        return f"{flat[0]:.{digits}f} (one {unit})"
    return f"{flat.mean():.{digits}f} ± {flat.std(ddof=1):.{digits}f}"
