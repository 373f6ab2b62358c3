"""Results as data: xarray Datasets with provenance, saved as netCDF.

Every result carries its full configuration (as canonical JSON), the preset, the
versions of lmc and its numerical libraries, the device and the time it was made.
Saving never silently replaces a different result: an existing file computed from
another configuration is kept beside the new one under its configuration hash.
"""

from __future__ import annotations

import datetime
import json
import platform
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from . import __version__, store


def provenance(config: dict, device: str) -> dict:
    """Attributes recording what produced a result: configuration, versions, device, time."""
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
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def config_of(ds: xr.Dataset) -> dict:
    """The configuration a result was computed from."""
    return json.loads(ds.attrs["config"])


def is_kept(path: str | Path) -> bool:
    """Whether ``path`` is an earlier result that ``save`` kept as ``<name>.<config hash>.nc``."""
    return "." in Path(path).stem


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` as netCDF, atomically; returns the path.

    If ``path`` holds other numbers (another configuration, or the same one computed
    elsewhere), that file is first renamed to ``<stem>.<its config hash>.nc`` (and a
    warning says so): nothing already computed is overwritten. The same numbers from
    the same configuration leave the existing file untouched.
    """
    path = Path(path)
    if path.exists():
        with xr.open_dataset(path, engine="h5netcdf") as old:
            old_hash = old.attrs.get("config_hash", "unknown")
            unchanged = old_hash == ds.attrs.get("config_hash") and old.load().equals(ds)
        if unchanged:  # the same numbers from the same configuration: keep the file and its date
            return path
        kept = path.with_name(f"{path.stem}.{old_hash}{path.suffix}")
        n = 1
        while kept.exists():
            n += 1
            kept = path.with_name(f"{path.stem}.{old_hash}-{n}{path.suffix}")
        path.rename(kept)
        warnings.warn(f"{path} held other numbers (configuration {old_hash}); kept it as {kept}",
                      stacklevel=2)
    store.atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    return path


def load(path: str | Path) -> xr.Dataset:
    """A saved result, loaded into memory (the file is closed again)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def mean_std(values, digits: int = 2, unit: str = "pair") -> str:
    """"mean ± std" of the values (sample std), or "mean (one <unit>)" for a single one."""
    flat = np.asarray(values).ravel()
    if flat.size == 1:
        return f"{flat[0]:.{digits}f} (one {unit})"
    return f"{flat.mean():.{digits}f} ± {flat.std(ddof=1):.{digits}f}"
