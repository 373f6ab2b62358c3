import json
import platform
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

from lmc.core import results
from lmc.report import status


def _result(config):
    ds = xr.Dataset({"error": (("alpha",), np.arange(3.0))}, coords={"alpha": [0.0, 0.5, 1.0]})
    ds.attrs.update(results.provenance(config, "cpu"))
    return ds


def test_provenance_round_trips_through_netcdf(tmp_path):
    path = results.save(_result({"preset": "smoke", "seed": 1}), tmp_path / "r.nc")
    loaded = results.load(path)
    assert results.config_of(loaded) == {"preset": "smoke", "seed": 1}
    for key in ("lmc_version", "torch_version", "numpy_version", "device", "created", "config_hash"):
        assert loaded.attrs[key]


def test_attributes_read_from_the_header_are_those_load_gives(tmp_path):
    ds = _result({"preset": "smoke", "seed": 1})
    ds.attrs.update(cpu_seconds=12.5, shards=3, note="ä text")
    path = results.save(ds, tmp_path / "r.nc")
    header, loaded = results.attributes(path), results.load(path).attrs
    assert set(header) == set(loaded) and {"cpu_seconds", "torch_threads", "config"} <= set(header)
    for key, value in loaded.items():  # xarray gives one-element numbers as arrays or numpy scalars
        assert header[key] == (np.asarray(value).item() if np.ndim(value) <= 1 and np.size(value) == 1 else value)
    assert header["cpu_seconds"] == 12.5 and header["shards"] == 3 and header["note"] == "ä text"
    assert type(header["cpu_seconds"]) is float and type(header["shards"]) is int  # plain numbers, not arrays
    assert json.loads(header["config"]) == {"preset": "smoke", "seed": 1}


def test_a_different_result_is_kept_not_overwritten(tmp_path):
    path = tmp_path / "r.nc"
    first = _result({"seed": 1})
    results.save(first, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results.save(_result({"seed": 2}), path)
    kept = tmp_path / f"r.{first.attrs['config_hash']}.nc"
    assert kept.exists() and results.config_of(results.load(kept)) == {"seed": 1}
    assert results.config_of(results.load(path)) == {"seed": 2}
    assert any("kept it as" in str(w.message) for w in caught)
    assert results.is_kept(kept) and not results.is_kept(path)


def test_mean_std_text():
    assert results.mean_std([1.0, 3.0]) == "2.00 ± 1.41"
    assert results.mean_std([0.5]) == "0.50 (one pair)"


def test_saving_the_same_result_again_leaves_the_file_untouched(tmp_path):
    path = results.save(_result({"seed": 1}), tmp_path / "r.nc")
    before = path.stat().st_mtime_ns, results.load(path).attrs["created"]
    again = _result({"seed": 1})
    again.attrs["created"] = "later"
    results.save(again, path)
    assert (path.stat().st_mtime_ns, results.load(path).attrs["created"]) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.nc"]


def test_provenance_records_the_cpu_its_instruction_set_and_torchs_threads(tmp_path):
    loaded = results.load(results.save(_result({"seed": 1}), tmp_path / "r.nc"))
    assert loaded.attrs["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert int(loaded.attrs["torch_threads"]) == torch.get_num_threads()
    assert loaded.attrs["cpu"] == results.cpu_model()
    try:
        models = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.split(":", 1)[0].strip() == "model name"]
    except OSError:
        models = []
    if models:  # Linux: the model name, not just the architecture platform.processor() gives
        assert loaded.attrs["cpu"] == models[0] and loaded.attrs["cpu"] != platform.machine()


def _saved_elsewhere(path, **attrs):
    """A result of configuration {"seed": 1} saved at ``path`` as if computed on another machine."""
    ds = _result({"seed": 1})
    ds.attrs.update(attrs)
    return results.save(ds, path)


def test_the_same_configuration_with_other_numbers_is_kept_under_a_name_saying_where_and_when(tmp_path):
    path = _saved_elsewhere(tmp_path / "r.nc", cpu_capability="AVX512", torch_threads=1,
                            created="2026-12-01T10:15:00+00:00")
    changed = _result({"seed": 1})
    changed["error"] = changed.error + 1  # same configuration, other numbers (another CPU)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results.save(changed, path)
    h = changed.attrs["config_hash"]
    kept = tmp_path / f"r.{h}.AVX512-1threads-20261201T101500Z.nc"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.nc", kept.name])
    assert not (tmp_path / f"r.{h}.nc").exists()  # never a name that says "another configuration"
    assert results.load(path).error.values.tolist() == [1.0, 2.0, 3.0]  # the newest under the name
    assert results.load(kept).error.values.tolist() == [0.0, 1.0, 2.0]
    assert any("same configuration" in str(w.message) and kept.name in str(w.message) for w in caught)
    assert results.is_kept(kept) and not results.is_kept(path)


def test_a_result_saved_before_the_cpu_was_recorded_is_kept_under_its_device_name(tmp_path):
    path = tmp_path / "r.nc"
    old = _result({"seed": 1})
    for key in ("cpu", "cpu_capability", "torch_threads"):
        del old.attrs[key]
    old.attrs.update(device_name="x86_64", created="2026-11-30T23:59:59+00:00")
    results.save(old, path)
    changed = _result({"seed": 1})
    changed["error"] = changed.error * 2
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        results.save(changed, path)
        results.save(old, path)  # the first numbers again: the second ones are kept under this machine
    h = old.attrs["config_hash"]
    now = results._where_when(dict(changed.attrs))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["r.nc", f"r.{h}.x86_64-20261130T235959Z.nc", f"r.{h}.{now}.nc"])


def test_a_gpu_result_is_kept_under_the_gpus_name(tmp_path):
    path = _saved_elsewhere(tmp_path / "r.nc", device="cuda", device_name="NVIDIA H200",
                            created="2026-12-02T08:00:00+00:00")
    changed = _result({"seed": 1})
    changed["error"] = changed.error - 1
    with pytest.warns(UserWarning, match="same configuration"):
        results.save(changed, path)
    h = changed.attrs["config_hash"]
    assert (tmp_path / f"r.{h}.NVIDIA_H200-20261202T080000Z.nc").exists()


def test_status_leaves_out_every_kept_file(tmp_path):
    folder = tmp_path / "quick" / "02_instability_during_training"
    path = _saved_elsewhere(folder / "lenet_300_100_standard.nc", cpu_capability="AVX2",
                            created="2026-12-01T10:15:00+00:00")
    for seed in (1, 2):  # the same configuration computed here, then another configuration
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = _result({"seed": seed})
            ds["error"] = ds.error + seed
            results.save(ds, path)
    assert len(list(folder.glob("*.nc"))) == 3
    found = status.result_files(tmp_path, "quick", "02_instability_during_training")
    assert [p.name for p in found] == ["lenet_300_100_standard.nc"]
