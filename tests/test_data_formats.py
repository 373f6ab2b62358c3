"""CIFAR-10, ImageNet and Fashion-MNIST loaders, run for real on tiny files in the same formats."""

import numpy as np
import pytest
import torch

from lmc.core import data
from lmc.core.errors import DataError

from .fixtures import write_cifar10, write_image_folder


@pytest.fixture
def tiny_manifest(monkeypatch):
    """Replace manifest entries with ones describing tiny fixtures (the rest stays real)."""
    entries = dict(data.manifest())
    monkeypatch.setattr(data, "manifest", lambda: entries)
    data._load.cache_clear()
    yield entries
    data._load.cache_clear()


@pytest.fixture
def cifar(tmp_path, monkeypatch, tiny_manifest):
    tiny_manifest["cifar10"] = write_cifar10(tmp_path)
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    return data.load("cifar10")


def test_cifar10_pickles_load_normalized_like_open_lth(cifar, tmp_path):
    assert cifar.train_x.shape == (20, 3, 32, 32) and cifar.test_x.shape == (4, 3, 32, 32)
    images, labels = data.read_cifar_batch(tmp_path / "cifar-10-batches-py" / "data_batch_1")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = (images[0].astype(np.float64) / 255 - mean[:, None, None]) / std[:, None, None]
    # float32 (x / 255 − mean) / std against float64: four roundings of values up to 2.7, ≤ 6.2e-7
    assert np.allclose(cifar.train_x[0].numpy(), expected, rtol=0, atol=1e-6)
    assert cifar.train_y[:4].tolist() == labels.tolist()
    assert cifar.augmented and cifar.crop_padding == 4 and cifar.flip


def test_cifar10_checksum_is_checked(tmp_path, monkeypatch, tiny_manifest):
    tiny_manifest["cifar10"] = write_cifar10(tmp_path)
    victim = tmp_path / "cifar-10-batches-py" / "test_batch"
    raw = bytearray(victim.read_bytes())
    raw[100] ^= 1
    victim.write_bytes(bytes(raw))
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="refusing .*test_batch: md5"):
        data.verify("cifar10")


def test_cifar10_fetch_goes_through_torchvision(tmp_path, monkeypatch, tiny_manifest):
    import torchvision.datasets

    source = tmp_path / "source"
    tiny_manifest["cifar10"] = write_cifar10(source)
    calls = []

    class FakeCIFAR10:  # torchvision downloads and extracts cifar-10-python.tar.gz into root
        def __init__(self, root, train, download):
            import shutil

            calls.append(download)
            shutil.copytree(source / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py", dirs_exist_ok=True)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    assert set(data.fetch("cifar10", root=tmp_path)) == set(tiny_manifest["cifar10"]["files"])
    assert calls == [True, True]


def _reference_crop_flip(image, dy, dx, flip, fill):
    """torchvision's RandomCrop(32, padding=4) and RandomHorizontalFlip for given draws."""
    from torchvision.transforms import functional as TF

    padded = TF.pad(image, [4, 4, 4, 4], fill=0)
    out = TF.crop(padded, dy, dx, 32, 32)
    return TF.hflip(out) if flip else out


def test_device_augmentation_matches_torchvision_crop_and_flip(cifar):
    x = cifar.train_x[:3]
    offsets = torch.tensor([[4, 4], [0, 8], [7, 1]])
    flips = torch.tensor([False, True, False])
    out = cifar.augment(x, offsets, flips)
    assert torch.equal(out[0], x[0])  # offset (4, 4), no flip: the image itself
    fill = cifar.fill.view(3, 1, 1)
    for i in range(3):
        # pad the normalized image with the normalized value of black: same as padding raw pixels
        raw_like = x[i] - fill  # black becomes 0, so zero-padding here equals padding the raw image
        expected = _reference_crop_flip(raw_like, int(offsets[i, 0]), int(offsets[i, 1]), bool(flips[i]), 0)
        # data movement and the same subtraction on both sides (the padding: fill − fill = 0): exact
        assert torch.equal(out[i] - fill, expected)


def test_augmentation_is_seeded_per_epoch_and_resumable(cifar):
    full = list(data.batches(cifar, 8, data_seed=1, augment_seed=5, start=0, stop=9))
    again = list(data.batches(cifar, 8, data_seed=1, augment_seed=5, start=0, stop=9))
    resumed = list(data.batches(cifar, 8, data_seed=1, augment_seed=5, start=4, stop=9))
    other = list(data.batches(cifar, 8, data_seed=1, augment_seed=6, start=0, stop=9))
    assert [len(y) for _, y in full] == [8, 8, 4] * 3  # 20 examples: the last batch is partial
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full, again, strict=True))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(full[4:], resumed, strict=True))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(full, other, strict=True))  # same order, other crops
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(full, other, strict=True))


def test_imagenet_image_folder_streams_deterministically(tmp_path, monkeypatch, tiny_manifest):
    tiny_manifest["imagenet"] = write_image_folder(tmp_path)
    monkeypatch.setenv("LMC_IMAGENET_DIR", str(tmp_path / "imagenet"))
    stream = data.load("imagenet", "cpu", image_size=32)
    stream.workers = 0
    assert isinstance(stream, data.StreamData) and stream.train_size == 6
    first = list(data.batches(stream, 4, data_seed=0, augment_seed=0, start=0, stop=4))
    resumed = list(data.batches(stream, 4, data_seed=0, augment_seed=0, start=2, stop=4))
    assert [tuple(x.shape) for x, _ in first] == [(4, 3, 32, 32), (2, 3, 32, 32)] * 2
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first[2:], resumed, strict=True))
    (x, y), = list(stream.eval_batches("test", batch_size=8))
    assert x.shape == (6, 3, 32, 32) and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]


def test_imagenet_missing_says_it_cannot_be_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_IMAGENET_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="0 class folders, expected 1000.*LMC_IMAGENET_DIR"):
        data.fetch("imagenet")


def test_fashion_mnist_verified_and_normalized(mnist):
    fashion = data.load("fashion_mnist")
    assert fashion.train_x.shape == (60000, 1, 28, 28) and not fashion.augmented
    # the manifest's constants (0.286, 0.353) have 3 digits: off by up to 5e-4 / 0.353 = 1.4e-3
    # (measured: mean 1.1e-4, std 1 + 6.9e-5)
    assert fashion.train_x.mean().item() == pytest.approx(0, abs=2e-3)
    assert fashion.train_x.std().item() == pytest.approx(1, abs=2e-3)
    assert torch.bincount(fashion.test_y).tolist() == [1000] * 10
