import warnings

import numpy as np
import xarray as xr

from lmc import results


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
    changed = _result({"seed": 1})
    changed["error"] = changed.error + 1  # same configuration, other numbers (another device)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        results.save(changed, path)
    assert results.load(path).error.values.tolist() == [1.0, 2.0, 3.0]
    kept = tmp_path / f"r.{changed.attrs['config_hash']}.nc"
    assert results.load(kept).error.values.tolist() == [0.0, 1.0, 2.0]
