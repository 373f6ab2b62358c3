"""Tiny data sets written in the real formats, with a manifest entry describing them; and the
float-rounding bound for tests that compare two trainings (``assert_trained_alike``)."""

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

    from lmc.core import data

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

    from lmc.core import data

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


# --- two trainings that differ only in floating-point rounding --------------------------------
#
# A population member and the same run trained alone (or a run on an AVX2 CPU and on an AVX-512
# one, or with 1 and 2 threads) perform the same arithmetic with sums taken in another order
# (batched vs single matrix products, other vector widths): they start apart by fp32 rounding,
# eps = 1.2e-7 relative per operation, and training amplifies that (Adam turns a rounding
# difference in a near-zero gradient into a step difference of up to lr; batch norm over a
# near-constant channel multiplies one by up to 1/sqrt(its eps 1e-5) ≈ 300). So the gap is
# measured relative to how far training moved the state. Measured (1 and 2 threads, and with
# MKL's AVX/SSE and ATen's unvectorized kernels forced as a stand-in for another CPU): at most
# 6e-6 of the distance moved over 30-40 Adam steps of LeNet or one SGD step of the conv
# stand-in, at most 4e-4 in any single tensor. Deliberately broken populations (run once, not
# kept) put it far above: another member's data order 0.16-0.85, its initialization or start
# 1-8, its mask 5.5, a fresh optimizer 0.13-1.4, masks not applied 0.9, batch-norm statistics
# shared 1.1. Both bounds sit about two orders of magnitude from either side. (Absolute bounds
# do not carry over: a 1e-4 bound tuned on AMD failed on an Intel AVX-512 CPU with a gap of 1.6e-4.)
TRAINED_ALIKE = 1e-3         # ‖got − ref‖ / ‖ref − start‖ over every floating-point entry
TRAINED_ALIKE_TENSOR = 0.1   # the same in any one tensor (a bug confined to, say, batch-norm statistics)


def training_gap(got: dict, ref: dict, start: dict) -> tuple[float, dict]:
    """(overall, per tensor) ‖got − ref‖ / ‖ref − start‖ over the floating-point entries of three
    states: two trainings from ``start`` that should agree up to rounding (computed in float64)."""
    import torch

    keys = [k for k, v in ref.items() if v.is_floating_point()]
    gap = {k: float((got[k].double() - ref[k].double()).norm()) for k in keys}
    moved = {k: float((ref[k].double() - start[k].double()).norm()) for k in keys}
    # a tensor that did not move (moved 0) must agree to its own fp32 rounding
    per = {k: gap[k] / max(moved[k], 8 * torch.finfo(torch.float32).eps * float(ref[k].double().norm()), 1e-30)
           for k in keys}
    overall = sum(g * g for g in gap.values()) ** 0.5 / sum(m * m for m in moved.values()) ** 0.5
    return overall, per


def assert_trained_alike(got: dict, ref: dict, start: dict) -> None:
    """``got`` and ``ref``, both trained from ``start``, differ by no more than float rounding
    amplified by training (``TRAINED_ALIKE``, ``TRAINED_ALIKE_TENSOR``; reasons above)."""
    overall, per = training_gap(got, ref, start)
    worst = max(per, key=per.get)
    assert overall < TRAINED_ALIKE, f"gap {overall:.2e} of the distance trained (bound {TRAINED_ALIKE})"
    assert per[worst] < TRAINED_ALIKE_TENSOR, f"{worst}: gap {per[worst]:.2e} of its distance trained"


# --- argmax near ties --------------------------------------------------------------------------
#
# Two evaluations of one network that sum in another order (batched vs single matrix products,
# the first layer's outputs mixed instead of its weights, another CPU's kernels) give logits that
# differ by rounding: measured at most 6e-6 for logits up to 17 (3 eps of the largest |logit|).
# An example whose top two logits are closer than that may be classified either way. Such near
# ties are counted with a margin NEAR_TIE of the largest |logit| (300 times the measured rounding)
# and may flip; every other example must be classified the same. Trained networks, and so their
# near ties, differ from CPU to CPU, which is why they are counted rather than assumed absent.
NEAR_TIE = 1e-4


def logits_of(model, state: dict, batches):
    """The logits of ``model`` with weights ``state`` over ``batches`` (an iterable of (x, y))."""
    import torch
    from torch.func import functional_call

    model.eval()
    with torch.no_grad():
        return torch.cat([functional_call(model, state, (x,)) for x, _ in batches])


def near_ties(logits) -> int:
    """How many examples (rows of ``logits``) have top two logits within NEAR_TIE of the largest |logit|."""
    top = logits.topk(2, dim=1).values
    return int((top[:, 0] - top[:, 1] <= NEAR_TIE * float(logits.abs().max())).sum())


def assert_classified_alike(error_a: float, error_b: float, logits) -> None:
    """Two errors (in %) of one network over the examples behind ``logits`` (one evaluation of it)
    differ by at most its near ties: the examples whose class rounding may flip."""
    flipped = abs(error_a - error_b) * len(logits) / 100  # examples
    assert flipped <= near_ties(logits) + 1e-6, f"{flipped:.0f} examples flipped, {near_ties(logits)} near ties"
