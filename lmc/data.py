"""Data sets as tensors on the device, verified against ``data_manifest.yaml``.

A data set is read once, checked file by file against the manifest (size, md5,
sha256), normalized, and kept as one tensor per split on the target device.
Training batches are index gathers from that tensor (``x[order[i:i + b]]``): no
DataLoader and no per-sample Python, which is what makes small networks fast.

The data directory is ``$LMC_DATA_DIR`` (default ``~/.cache/lmc/data``); its
layout is torchvision's ``root`` layout (``MNIST/raw/...``).
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from .errors import DataError, choose
from .seeds import generator

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "data_manifest.yaml"


def data_dir() -> Path:
    """The data directory: ``$LMC_DATA_DIR``, else ``$XDG_CACHE_HOME/lmc/data``."""
    if os.environ.get("LMC_DATA_DIR"):
        return Path(os.environ["LMC_DATA_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return cache / "lmc" / "data"


@functools.lru_cache(maxsize=None)
def manifest(path: Path = MANIFEST_PATH) -> dict:
    """The data manifest: for every data set its files, sizes, checksums, URLs and citation."""
    with open(path) as f:
        return {k: v for k, v in yaml.safe_load(f).items() if k != "schema"}


def entry(name: str) -> dict:
    """The manifest entry of data set ``name`` (a ConfigError lists the known ones)."""
    return manifest()[choose("data set", name, manifest())]


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime) already checked in this process


def verify(name: str, root: Path | None = None) -> dict[str, Path]:
    """Paths of the data set's files after checking each against the manifest.

    Raises a DataError naming the data set, the folder searched and the command that
    fetches it when a file is missing, and refuses a file whose size or checksum
    differs, naming the file and the expected and actual values.
    """
    info = entry(name)
    folder = Path(root or data_dir()) / info["folder"]
    paths = {}
    for fname, spec in info["files"].items():
        path = folder / fname
        if not path.is_file():
            raise DataError(
                f"data set {name!r} not found: {path} is missing (searched {folder}); "
                f"run `lmc data fetch {name}` or set LMC_DATA_DIR to a folder that holds it")
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _verified:
            if stat.st_size != spec["bytes"]:
                raise DataError(f"refusing {path}: size {stat.st_size} bytes, manifest expects "
                                f"{spec['bytes']}; delete it and run `lmc data fetch {name}`")
            for algorithm in ("md5", "sha256"):
                actual = _digest(path, algorithm)
                if actual != spec[algorithm]:
                    raise DataError(f"refusing {path}: {algorithm} {actual} does not match the "
                                    f"manifest's {spec[algorithm]}; delete it and run "
                                    f"`lmc data fetch {name}`")
            _verified.add(key)
        paths[fname] = path
    return paths


def fetch(name: str, root: Path | None = None) -> dict[str, Path]:
    """Download a data set through torchvision into the data directory, then verify it."""
    info = entry(name)
    root = Path(root or data_dir())
    try:
        return verify(name, root)
    except DataError:
        pass
    import torchvision.datasets  # imported here: only fetching needs torchvision

    dataset_class = getattr(torchvision.datasets, info["fetch"].rsplit(".", 1)[1])
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        try:
            dataset_class(root=str(root), train=train, download=True)
        except Exception as e:  # network errors come in many types
            reason = " ".join(str(e).split())  # one line, however the library formatted it
            raise DataError(f"could not download {name!r} into {root}: {reason}; "
                            f"download it on a machine with network access and copy "
                            f"{info['folder']} there") from e
    return verify(name, root)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format) as a numpy array of its stored shape."""
    raw = path.read_bytes()
    if raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@dataclass(frozen=True)
class DeviceData:
    """A data set held as normalized tensors on one device (``x``: N×C×H×W, ``y``: N)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of ``split`` ("train" or "test")."""
        choose("split", split, ("train", "test"))
        return (self.train_x, self.train_y) if split == "train" else (self.test_x, self.test_y)


@functools.lru_cache(maxsize=4)
def load(name: str, device: str = "cpu", train_subset: int | None = None,
         test_subset: int | None = None) -> DeviceData:
    """The data set as normalized tensors on ``device``; subsets take the first N examples.

    Loaded and verified once per process and device; later calls return the same tensors.
    """
    info = entry(name)
    paths = verify(name)
    mean = torch.tensor(info["normalize"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info["normalize"]["std"]).view(1, -1, 1, 1)
    tensors = {}
    for split, subset in (("train", train_subset), ("test", test_subset)):
        files = info["splits"][split]
        images = read_idx(paths[files["images"]])[:subset]
        labels = read_idx(paths[files["labels"]])[:subset]
        x = torch.from_numpy(images.copy()).float().div_(255).view(len(images), *info["shape"])
        tensors[split] = ((x - mean) / std).to(device), torch.from_numpy(labels.astype(np.int64)).to(device)
    return DeviceData(name, *tensors["train"], *tensors["test"], num_classes=info["num_classes"])


def epoch_order(data_seed: int, epoch: int, n: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """The order of the ``n`` training examples in ``epoch`` for data-order seed ``data_seed``.

    Each epoch's permutation is drawn from its own sub-stream, so training resumed at
    any step sees exactly the order an uninterrupted run would have seen.
    """
    return torch.randperm(n, generator=generator("data_order", data_seed, epoch)).to(device)
