import shutil
import struct

import numpy as np
import pytest
import torch

from lmc.core import data
from lmc.core.errors import ConfigError, DataError


def _write_idx(path, array):
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x", array)
    assert np.array_equal(data.read_idx(tmp_path / "x"), array)


def test_mnist_is_normalized_on_the_device(mnist):
    full = data.load("mnist")
    assert full.train_x.shape == (60000, 1, 28, 28) and full.test_x.shape == (10000, 1, 28, 28)
    # the manifest's constants (0.1307, 0.3081) have 4 digits: off by up to 5e-5 / 0.3081 = 1.6e-4
    # (measured: mean -1.3e-4, std 1 + 2.5e-5); float32 summation over 47M values adds ~1e-9
    assert full.train_x.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert full.train_x.std().item() == pytest.approx(1.0, abs=1e-3)
    assert full.train_y.dtype == torch.int64 and set(full.train_y.unique().tolist()) == set(range(10))
    assert data.load("mnist") is full  # loaded once per process


def test_image_size_average_pools_each_2x2_block(mnist):
    full, small = data.load("mnist", test_subset=50), data.load("mnist", test_subset=50, image_size=14)
    assert small.train_x.shape == (60000, 1, 14, 14) and small.test_x.shape == (50, 1, 14, 14)
    # normalization is affine, so the pooled normalized images are the normalized pooled ones
    blocks = full.test_x.reshape(50, 1, 14, 2, 14, 2).mean(dim=(3, 5))
    # equal up to a few float32 roundings of values up to 2.8 (ulp 2.4e-7): measured 4.8e-7
    assert torch.allclose(small.test_x, blocks, rtol=0, atol=1e-5)
    assert torch.equal(small.train_y, full.train_y)
    with pytest.raises(ConfigError, match="image_size must be between 1 and the images' own side 28"):
        data.load("mnist", test_subset=50, image_size=56)


def test_missing_data_names_data_set_folder_and_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as error:
        data.verify("mnist")
    message = str(error.value)
    assert "'mnist'" in message and str(tmp_path / "MNIST" / "raw") in message
    assert "lmc data fetch mnist" in message


def _copy_mnist(tmp_path, mnist):
    target = tmp_path / "MNIST" / "raw"
    target.mkdir(parents=True)
    for name in data.entry("mnist")["files"]:
        shutil.copy(data.data_dir() / "MNIST" / "raw" / name, target / name)
    return target


def test_checksum_mismatch_is_refused_with_both_hashes(tmp_path, monkeypatch, mnist):
    target = _copy_mnist(tmp_path, mnist)
    victim = target / "t10k-labels-idx1-ubyte"
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF  # same size, one byte changed
    victim.write_bytes(bytes(raw))
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as error:
        data.verify("mnist")
    message = str(error.value)
    expected = data.entry("mnist")["files"]["t10k-labels-idx1-ubyte"]["md5"]
    actual = data._digest(victim, "md5")
    assert str(victim) in message and expected in message and actual in message


def test_wrong_size_is_refused(tmp_path, monkeypatch, mnist):
    target = _copy_mnist(tmp_path, mnist)
    (target / "train-labels-idx1-ubyte").write_bytes(b"\x00" * 10)
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match="size 10 bytes, manifest expects 60008"):
        data.verify("mnist")


def test_fetch_reports_a_failed_download(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, **kwargs):
            raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(DataError, match="could not download 'mnist'.*network is unreachable"):
        data.fetch("mnist", root=tmp_path)


def test_fetch_downloads_through_torchvision_then_verifies(tmp_path, monkeypatch, mnist):
    import torchvision.datasets

    source = data.data_dir()
    calls = []

    class FakeDownload:  # stands in for the network: "downloads" from the verified copy
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            shutil.copytree(source / "MNIST", tmp_path / "MNIST", dirs_exist_ok=True)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeDownload)
    paths = data.fetch("mnist", root=tmp_path)
    assert calls and all(download for _, _, download in calls)
    assert set(paths) == set(data.entry("mnist")["files"])


def test_unknown_data_set_lists_valid_ones():
    with pytest.raises(ConfigError, match="valid data sets: mnist, fashion_mnist"):
        data.entry("cifar100")


def test_epoch_order_streams():
    a = data.epoch_order(0, 0, 1000)
    assert torch.equal(a, data.epoch_order(0, 0, 1000))
    assert not torch.equal(a, data.epoch_order(1, 0, 1000))
    assert not torch.equal(a, data.epoch_order(0, 1, 1000))
    assert torch.equal(a.sort().values, torch.arange(1000))
