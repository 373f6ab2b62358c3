"""Tiny data sets written in the real formats, with a manifest entry describing them."""

import hashlib
import pickle
from pathlib import Path

import numpy as np


def _spec(path: Path) -> dict:
    raw = path.read_bytes()
    return {"bytes": len(raw), "md5": hashlib.md5(raw).hexdigest(), "sha256": hashlib.sha256(raw).hexdigest()}


def write_cifar10(root: Path, per_batch: int = 4, seed: int = 0) -> dict:
    """cifar-10-batches-py with 5 train batches and a test batch of ``per_batch`` images each;
    returns the manifest entry for it (the real one with these files' sizes and checksums)."""
    import yaml

    from lmc import data

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, per_batch).tolist(),
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_cases_per_batch": per_batch}, f)
    entry = yaml.safe_load(yaml.safe_dump(data.manifest()["cifar10"]))  # a deep copy
    entry["files"] = {name: _spec(folder / name) for name in entry["files"]}
    entry["splits"]["train"]["size"], entry["splits"]["test"]["size"] = 5 * per_batch, per_batch
    return entry


def write_image_folder(root: Path, classes: int = 2, per_class: int = 3, side: int = 40) -> dict:
    """imagenet/{train,val}/<class>/*.JPEG with random images; returns its manifest entry."""
    from PIL import Image

    from lmc import data

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = root / "imagenet" / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (side, side + 7, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"img_{i}.JPEG")
    entry = dict(data.manifest()["imagenet"])
    entry["num_classes"] = classes
    return entry
