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
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from .errors import ConfigError, DataError, choose
from .seeds import derive, generator

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "data_manifest.yaml"  # beside lmc/


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
    folder = dataset_folder(name, root)
    if info["format"] == "imagefolder":
        return _verify_image_folder(name, info, folder)
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
                if algorithm not in spec:  # the manifest says which checksums are published
                    continue
                actual = _digest(path, algorithm)
                if actual != spec[algorithm]:
                    raise DataError(f"refusing {path}: {algorithm} {actual} does not match the "
                                    f"manifest's {spec[algorithm]}; delete it and run "
                                    f"`lmc data fetch {name}`")
            _verified.add(key)
        paths[fname] = path
    return paths


def dataset_folder(name: str, root: Path | None = None) -> Path:
    """Where data set ``name`` lives: ``<data dir>/<its folder>`` (ImageNet: ``$LMC_IMAGENET_DIR``)."""
    if name == "imagenet" and os.environ.get("LMC_IMAGENET_DIR") and root is None:
        return Path(os.environ["LMC_IMAGENET_DIR"]).expanduser()
    return Path(root or data_dir()) / entry(name)["folder"]


def _verify_image_folder(name: str, info: dict, folder: Path) -> dict[str, Path]:
    paths = {}
    for split, spec in info["splits"].items():
        path = folder / spec["folder"]
        classes = [d for d in path.iterdir() if d.is_dir()] if path.is_dir() else []
        if len(classes) != info["num_classes"]:
            raise DataError(f"data set {name!r} not usable: {path} holds {len(classes)} class "
                            f"folders, expected {info['num_classes']}; place an ImageFolder tree "
                            f"there or set LMC_IMAGENET_DIR (it cannot be downloaded automatically)")
        paths[split] = path
    return paths


def fetch(name: str, root: Path | None = None) -> dict[str, Path]:
    """Download a data set through torchvision into the data directory, then verify it."""
    info = entry(name)
    root = Path(root or data_dir())
    try:
        return verify(name, root)
    except DataError:
        if not info.get("fetch"):
            raise
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


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 python batch file: images (N×3×32×32 uint8) and labels (N)."""
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    images = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return images, np.asarray(batch[b"labels"], dtype=np.int64)


def _read_split(info: dict, paths: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (N×C×H×W uint8) and labels of one split, in the data set's own format."""
    files = info["splits"][split]
    if info["format"] == "idx":
        images = read_idx(paths[files["images"]])
        return images.reshape(len(images), *info["shape"]), read_idx(paths[files["labels"]]).astype(np.int64)
    if info["format"] == "cifar_pickle":
        parts = [read_cifar_batch(paths[f]) for f in files["batches"]]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    raise DataError(f"data set {info['title']!r} (format {info['format']!r}) does not fit in memory "
                    f"as a tensor; use its streaming loader")


@dataclass(frozen=True)
class DeviceData:
    """A data set held as normalized tensors on one device (``x``: N×C×H×W, ``y``: N).

    ``crop_padding`` and ``flip``: the training augmentation (random crop after zero
    padding by that many pixels, random horizontal flip), applied on the device by
    ``augment``. ``fill`` is what a black (zero) pixel becomes after normalization.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    crop_padding: int = 0
    flip: bool = False
    fill: torch.Tensor | None = None

    @property
    def augmented(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of ``split`` ("train" or "test")."""
        choose("split", split, ("train", "test"))
        return (self.train_x, self.train_y) if split == "train" else (self.test_x, self.test_y)

    @property
    def train_size(self) -> int:
        return len(self.train_x)

    def eval_batches(self, split: str, batch_size: int = 10_000):
        """(x, y) batches covering ``split`` in order, without augmentation."""
        x, y = self.split(split)
        return ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))

    def augmentation(self, augment_seed: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop offsets (N×2) and flips (N) of every training example in ``epoch``.

        Drawn for the whole epoch at once from the ``augment`` stream, so a run resumed
        mid-epoch augments exactly as an uninterrupted one.
        """
        g = generator("augment", augment_seed, epoch)
        n, device = len(self.train_x), self.train_x.device
        offsets = torch.randint(0, 2 * self.crop_padding + 1, (n, 2), generator=g)
        flips = torch.rand(n, generator=g) < (0.5 if self.flip else 0.0)
        return offsets.to(device), flips.to(device)

    def augment(self, x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
        """Randomly cropped (after padding) and flipped images, as one batched gather."""
        b, c, h, w = x.shape
        p = self.crop_padding
        if p:
            padded = self.fill.view(1, c, 1, 1).expand(b, c, h + 2 * p, w + 2 * p).clone()
            padded[:, :, p:p + h, p:p + w] = x
            rows = offsets[:, 0, None] + torch.arange(h, device=x.device)
            cols = offsets[:, 1, None] + torch.arange(w, device=x.device)
            batch = torch.arange(b, device=x.device)[:, None, None]
            x = padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        # contiguous (NCHW): the gather leaves channels-last strides, on which torch 2.14's CPU
        # convolution backward aborts ("double free or corruption") for narrow ResNets
        return torch.where(flips.view(b, 1, 1, 1), x.flip(3), x).contiguous()


def load(name: str, device: str = "cpu", train_subset: int | None = None,
         test_subset: int | None = None, image_size: int | None = None) -> "DeviceData | StreamData":
    """The data set on ``device``; subsets take the first N examples.

    In-memory data sets become normalized tensors (``DeviceData``), loaded and verified
    once per process and device, their images average-pooled to ``image_size`` if one is
    given; ImageNet streams from disk (``StreamData``) at ``image_size`` (default 224).
    """
    return _load(name, str(device), train_subset, test_subset, image_size)


@functools.lru_cache(maxsize=4)
def _load(name: str, device: str, train_subset: int | None, test_subset: int | None,
          image_size: int | None) -> "DeviceData | StreamData":
    info = entry(name)
    paths = verify(name)
    if info["format"] == "imagefolder":
        return StreamData(name, paths, info, torch.device(device), train_subset, test_subset,
                          image_size or 224)
    mean = torch.tensor(info["normalize"]["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info["normalize"]["std"]).view(1, -1, 1, 1)
    tensors = {}
    for split, subset in (("train", train_subset), ("test", test_subset)):
        images, labels = _read_split(info, paths, split)
        x = torch.from_numpy(images[:subset].copy()).float().div_(255)
        if image_size is not None and image_size != x.shape[-1]:
            x = _pooled(x, image_size)
        tensors[split] = ((x - mean) / std).to(device), torch.from_numpy(labels[:subset].copy()).to(device)
    augment = info.get("augment", {})
    return DeviceData(name, *tensors["train"], *tensors["test"], num_classes=info["num_classes"],
                      crop_padding=augment.get("crop_padding", 0), flip=augment.get("flip", False),
                      fill=(-mean / std).flatten().to(device))


def _pooled(x: torch.Tensor, side: int) -> torch.Tensor:
    """Images (N, C, H, W) averaged down to side × side (area interpolation: each output pixel is
    the mean of the input pixels it covers, a 2×2 average pool for 28 → 14)."""
    if not 1 <= side < x.shape[-1]:
        raise ConfigError(f"image_size must be between 1 and the images' own side {x.shape[-1]}, "
                          f"got {side}; leave it None for the data set's own size")
    return torch.nn.functional.interpolate(x, size=(side, side), mode="area")


def epoch_order(data_seed: int, epoch: int, n: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """The order of the ``n`` training examples in ``epoch`` for data-order seed ``data_seed``.

    Each epoch's permutation is drawn from its own sub-stream, so training resumed at
    any step sees exactly the order an uninterrupted run would have seen.
    """
    return torch.randperm(n, generator=generator("data_order", data_seed, epoch)).to(device)


def batches(dataset: "DeviceData | StreamData", batch_size: int, data_seed: int, augment_seed: int,
            start: int, stop: int):
    """The training batches (x, y) of steps ``start`` .. ``stop`` - 1.

    Epoch e visits the examples in the order ``epoch_order(data_seed, e)`` in batches of
    ``batch_size`` (the last batch of an epoch may be smaller); augmentation comes from
    the ``augment`` stream of ``augment_seed``. Any step range gives exactly the batches
    an uninterrupted run would see at those steps.
    """
    n = dataset.train_size
    per_epoch = -(-n // batch_size)
    step = start
    while step < stop:
        epoch, first = divmod(step, per_epoch)
        last = min(per_epoch, first + stop - step)
        order = epoch_order(data_seed, epoch, n)
        if isinstance(dataset, StreamData):
            yield from dataset.train_batches(order[first * batch_size:last * batch_size], batch_size,
                                             augment_seed, epoch)
        else:
            order = order.to(dataset.train_x.device)
            aug = dataset.augmentation(augment_seed, epoch) if dataset.augmented else None
            for i in range(first, last):
                idx = order[i * batch_size:(i + 1) * batch_size]
                x = dataset.train_x[idx]
                if aug is not None:
                    x = dataset.augment(x, aug[0][idx], aug[1][idx])
                yield x, dataset.train_y[idx]
        step += last - first


class _SeededImages(torch.utils.data.Dataset):
    """ImageFolder samples transformed with a per-example seed (resume-exact augmentation)."""

    def __init__(self, folder, transform, seed: int | None, epoch: int):
        self.folder, self.transform, self.seed, self.epoch = folder, transform, seed, epoch

    def __len__(self) -> int:
        return len(self.folder.samples)

    def __getitem__(self, i: int):
        path, label = self.folder.samples[i]
        image = self.folder.loader(path)
        if self.seed is not None:
            torch.manual_seed(derive("augment", self.seed, self.epoch, i))
        return self.transform(image), label


class StreamData:
    """A data set read from disk in batches (ImageNet): the usual random-resized-crop and
    flip for training, resize and center crop for evaluation, DataLoader workers and
    pinned memory. Every example's augmentation is seeded by (augment seed, epoch, index)."""

    def __init__(self, name: str, paths: dict, info: dict, device: torch.device,
                 train_subset: int | None, test_subset: int | None, image_size: int = 224,
                 workers: int | None = None):
        import torchvision

        self.name, self.info, self.device, self.num_classes = name, info, device, info["num_classes"]
        self.image_size = image_size
        self.workers = min(8, os.cpu_count() or 1) if workers is None else workers
        self.folders = {split: torchvision.datasets.ImageFolder(str(path)) for split, path in paths.items()}
        for split, subset in (("train", train_subset), ("test", test_subset)):
            self.folders[split].samples = self.folders[split].samples[:subset]

    @property
    def train_size(self) -> int:
        return len(self.folders["train"].samples)

    def _transform(self, train: bool):
        from torchvision import transforms as T

        normalize = T.Normalize(self.info["normalize"]["mean"], self.info["normalize"]["std"])
        if train:
            return T.Compose([T.RandomResizedCrop(self.image_size), T.RandomHorizontalFlip(),
                              T.ToTensor(), normalize])
        return T.Compose([T.Resize(round(self.image_size * 256 / 224)), T.CenterCrop(self.image_size),
                          T.ToTensor(), normalize])

    def _loader(self, dataset, indices, batch_size: int):
        return torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, sampler=indices.tolist(), num_workers=self.workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False)

    def train_batches(self, indices: torch.Tensor, batch_size: int, augment_seed: int, epoch: int):
        dataset = _SeededImages(self.folders["train"], self._transform(True), augment_seed, epoch)
        for x, y in self._loader(dataset, indices, batch_size):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def eval_batches(self, split: str, batch_size: int = 256):
        choose("split", split, ("train", "test"))
        folder = self.folders[split]
        dataset = _SeededImages(folder, self._transform(False), None, 0)
        for x, y in self._loader(dataset, torch.arange(len(folder.samples)), batch_size):
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
