"""The CLI: the same results as the chapter, one-line errors, nothing written on bad input."""

import os
import subprocess
import sys

import pytest
import xarray as xr

from lmc import cli


def lmc(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lmc.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_run_instability_smoke_writes_results_and_reuses_the_cache(mnist, tmp_path):
    out = tmp_path / "r.nc"
    assert cli.main(["run", "instability", "--model", "lenet_300_100", "--rewind", "0",
                     "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    ds = xr.open_dataset(out, engine="h5netcdf")
    assert dict(ds.sizes) == {"init_seed": 1, "pair": 1, "split": 2, "alpha": 5}
    assert ds.attrs["preset"] == "smoke"
    runs = sorted(os.listdir(os.environ["LMC_CACHE_DIR"] + "/runs"))
    assert cli.main(["run", "instability", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    assert sorted(os.listdir(os.environ["LMC_CACHE_DIR"] + "/runs")) == runs  # nothing new computed


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown preset 'huge'; valid presets: smoke, quick, paper"),
    (["--model", "resnet_7"], "no Table 1 setting for model 'resnet_7'"),
    (["--variant", "fast"], "no Table 1 setting for model 'lenet_300_100' variant 'fast'"),
    (["--rewind", "3 epochs"], "malformed step '3 epochs'"),
    (["--rewind", "24000it"], "must be before the end of training"),
    (["--alphas", "1"], "at least 2 interpolation points"),
    (["--pairs", "0"], "pairs must be an integer between 1 and 4999"),
    (["--device", "tpu"], "unknown device 'tpu'; valid devices: auto, cpu, cuda"),
])
def test_bad_input_is_one_line_without_traceback(args, message, tmp_path):
    result = lmc("run", "instability", "--out", str(tmp_path / "x.nc"), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("lmc: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.nc").exists()
    assert not os.path.exists(os.path.join(os.environ["LMC_CACHE_DIR"], "runs"))


def test_cuda_without_a_gpu_is_refused(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = lmc("run", "instability", "--preset", "smoke", "--device", "cuda")
    assert result.returncode == 2 and "torch sees no GPU" in result.stderr


def test_data_verify_and_missing_data(mnist, tmp_path):
    assert lmc("data", "verify", "mnist").returncode == 0
    result = lmc("data", "verify", "mnist", env={"LMC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "lmc data fetch mnist" in result.stderr


def test_book_refuses_an_unknown_chapter_the_same_way_with_or_without_no_execute(tmp_path, monkeypatch, capsys):
    from lmc.report import book

    built = []  # nothing may be built: record instead of writing the front matter or running jupyter-book
    monkeypatch.setattr(book, "write_front_matter", lambda *a, **k: built.append("front matter"))
    monkeypatch.setattr(book, "_execute_all", lambda *a, **k: built.append("execute") or [])
    monkeypatch.setattr(book.subprocess, "run", lambda *a, **k: built.append(a))
    errors = []
    for extra in ([], ["--no-execute"]):
        code = cli.main(["book", "--chapters", "zz", "--results-dir", str(tmp_path), *extra])
        errors.append((code, capsys.readouterr().err))
    assert errors[0] == errors[1], errors
    code, err = errors[0]
    assert code == 2 and err.startswith("lmc: error: no chapter matches ['zz']; chapters: 01_")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert built == [] and list(tmp_path.iterdir()) == []
