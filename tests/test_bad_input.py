"""Bad input, one row per case: one line that says what is wrong and what to do, a non-zero
exit, no traceback, and no change to the run cache.

The first table drives the command line (in this process, so that a full disk can be
simulated; a few rows are run again as real processes); the second drives the Python
API where no command takes the value (densities, papermill parameters, states).
"""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from lmc import cli
from lmc.core import data, hparams, interpolate, prune, store, train
from lmc.core.errors import CacheError, ConfigError, LMCError
from lmc.experiments import instability
from lmc.report import book

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
SMOKE = ["run", "instability", "--preset", "smoke", "--quiet"]
SPARSE = ["run", "sparse", "--preset", "smoke", "--quiet"]


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with its size and modification time (files)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            st = os.stat(os.path.join(folder, name))
            out[os.path.relpath(os.path.join(folder, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def cache():
    """The test's run cache, holding a finished result and a checkpoint (so a change shows)."""
    store.cached({"kind": "an earlier result"}, lambda: {"value": 1})
    run = store.open_run({"kind": "an earlier run"})
    store.save_checkpoint(run, {"step": 0, "model": {"w": torch.zeros(2)}, "optimizer": None})
    return store.cache_dir()


# --- setups: each prepares the environment of one row (tmp: a fresh folder) --------------------

def empty_data_dir(tmp, monkeypatch):
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp))


def _mnist_copy(tmp, monkeypatch, damage):
    """MNIST in a fresh data folder: links to the shared files, one small file copied and damaged."""
    source = data.dataset_folder("mnist")
    folder = tmp / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name in data.entry("mnist")["files"]:
        os.symlink(source / name, folder / name)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    raw = bytearray((source / "t10k-labels-idx1-ubyte").read_bytes())
    (folder / "t10k-labels-idx1-ubyte").write_bytes(damage(raw))
    monkeypatch.setenv("LMC_DATA_DIR", str(tmp))


def flipped_byte_in_data(tmp, monkeypatch):
    def flip(raw):
        raw[100] ^= 0xFF
        return bytes(raw)
    _mnist_copy(tmp, monkeypatch, flip)


def truncated_data(tmp, monkeypatch):
    _mnist_copy(tmp, monkeypatch, lambda raw: bytes(raw[:5000]))


def cache_under_a_file(tmp, monkeypatch):
    (tmp / "a-file").write_text("not a folder")
    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp / "a-file" / "cache"))


def full_disk(tmp, monkeypatch):
    def no_space(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "replace", no_space)


def read_only_cache(tmp, monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    monkeypatch.setattr(tempfile, "mkstemp", refused)


def _trunk(preset="smoke"):
    """The first run the smoke instability analysis opens (the trunk of seed 0)."""
    hp = instability.instability_config(preset=preset).hparams
    return store.open_run(train.run_config(hp, instability.data_seed(0), init_seed=0))


def cache_from_another_version(tmp, monkeypatch):
    record = _trunk().path / "config.json"
    record.write_text(record.read_text().replace('"schema": 1', '"schema": 0'))


def corrupt_run_record(tmp, monkeypatch):
    (_trunk().path / "config.json").write_text('{"schema": 1, "conf')


def out_under_a_file(tmp, monkeypatch):
    (tmp / "a-file").write_text("not a folder")


# --- the command line ---------------------------------------------------------------------------
# (arguments, what the message must say, setup, needs real MNIST); "{tmp}" is a fresh folder.

CLI_ROWS = [
    pytest.param(["--preset", "huge"], "unknown preset 'huge'; valid presets: smoke, quick, paper",
                 None, False, id="unknown-preset"),
    pytest.param(["--model", "resnet_7"], "no Table 1 setting for model 'resnet_7' variant 'standard'; "
                 "valid settings: lenet_300_100 (standard)", None, False, id="unknown-model"),
    pytest.param(["--variant", "fast"], "variant 'fast'; valid settings:", None, False,
                 id="unknown-variant"),
    pytest.param(["--rewind", "3 epochs"], "malformed step '3 epochs'; write steps as '500it'", None,
                 False, id="step-words"),
    pytest.param(["--rewind", "-5"], "malformed step '-5'", None, False, id="step-negative"),
    pytest.param(["--rewind", "2.5ep"], "malformed step '2.5ep'", None, False, id="step-fraction"),
    pytest.param(["--rewind", ""], "malformed step ''", None, False, id="step-empty"),
    pytest.param(["--rewind", "ep"], "malformed step 'ep'", None, False, id="step-no-number"),
    pytest.param(["--rewind", "100it200"], "malformed step '100it200'", None, False,
                 id="step-trailing"),
    pytest.param(["--preset", "quick", "--rewind", "24000it"], "must be before the end of training",
                 None, False, id="rewind-at-T"),
    pytest.param(["--rewind", "300"], "k=300 (300 iterations) must be before the end of training "
                 "T=300it", None, False, id="rewind-at-smoke-T"),
    pytest.param(["--rewind", "9ep"], "k=9ep (450 iterations) must be before the end", None, False,
                 id="rewind-epochs-past-T"),
    pytest.param(["--rewind", "0", "0it"], "name the same step twice", None, False,
                 id="rewind-repeated"),
    pytest.param(["--alphas", "1"], "need at least 2 interpolation points", None, False,
                 id="one-alpha"),
    pytest.param(["--alphas", "0"], "need at least 2 interpolation points", None, False,
                 id="zero-alphas"),
    pytest.param(["--alphas", "many"], "argument --alphas: invalid int value: 'many'", None, False,
                 id="alphas-not-a-number"),
    pytest.param(["--pairs", "0"], "pairs must be an integer between 1 and 4999", None, False,
                 id="zero-pairs"),
    pytest.param(["--pairs", "-2"], "pairs must be an integer between 1 and 4999", None, False,
                 id="negative-pairs"),
    pytest.param(["--init-seeds", "-1"], "init_seeds must be a list of non-negative integers", None,
                 False, id="negative-seed"),
    pytest.param(["--init-seeds", "0", "0"], "without repeats", None, False, id="repeated-seed"),
    pytest.param(["--device", "tpu"], "unknown device 'tpu'; valid devices: auto, cpu, cuda", None,
                 False, id="unknown-device"),
    pytest.param(["--device", "cuda"], "torch sees no GPU; use device='cpu' or 'auto'", None, False,
                 id="cuda-without-gpu", marks=NO_GPU),
    pytest.param(["--frobnicate"], "unrecognized arguments: --frobnicate", None, False,
                 id="unknown-option"),
    pytest.param(["--out", "{tmp}"], "is a folder; give a file name ending in .nc", None, False,
                 id="out-is-a-folder"),
    pytest.param(["--out", "{tmp}/a-file/r.nc"], "cannot write", out_under_a_file, False,
                 id="out-unwritable"),
    pytest.param([], "data set 'mnist' not found", empty_data_dir, False, id="missing-data"),
    pytest.param([], "md5 .* does not match the manifest's", flipped_byte_in_data, True,
                 id="checksum-mismatch"),
    pytest.param([], "size 5000 bytes, manifest expects 10008", truncated_data, True,
                 id="truncated-data"),
    pytest.param([], "Not a directory; free space or choose a writable folder", cache_under_a_file,
                 True, id="unwritable-cache"),
    pytest.param([], "No space left on device; free space", full_disk, True, id="full-cache"),
    pytest.param([], "Permission denied; free space or choose a writable folder", read_only_cache,
                 True, id="read-only-cache"),
    pytest.param([], "holds a different configuration \\(schema 0, lmc expects 1\\); move the cache",
                 cache_from_another_version, True, id="cache-from-another-version"),
    pytest.param([], "cannot read the run record .*; delete the folder", corrupt_run_record, True,
                 id="corrupt-cache-record"),
]

OTHER_COMMANDS = [
    pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="unknown-command"),
    pytest.param(["run"], "the following arguments are required: experiment", id="no-experiment"),
    pytest.param(["run", "imp"], "invalid choice: 'imp'", id="unknown-experiment"),
    pytest.param(SPARSE, "no pruning level given; add --levels N", id="sparse-no-pruning"),
    pytest.param(SPARSE + ["--levels", "3", "--density", "0.5"], "--levels and --density both given; keep one",
                 id="sparse-levels-and-density"),
    pytest.param(SPARSE + ["--levels", "0"], "levels must be an integer ≥ 1", id="sparse-level-0"),
    pytest.param(SPARSE + ["--density", "1.5"], r"density must be a fraction of the weights in \(0, 1\)",
                 id="sparse-density"),
    pytest.param(SPARSE + ["--levels", "3", "3"], "levels must be a non-empty list of distinct IMP rounds",
                 id="sparse-repeated-level"),
    pytest.param(SPARSE + ["--levels", "two"], "invalid int value: 'two'", id="sparse-levels-type"),
    pytest.param(SPARSE + ["--levels", "2", "--rewind", "0", "0it"], "name the same step twice",
                 id="sparse-repeated-rewind"),
    pytest.param(["data", "verify"], "needs a data set name; one of: mnist", id="data-no-name"),
    pytest.param(["data", "verify", "mnist2"], "unknown data set 'mnist2'; valid data sets: mnist",
                 id="unknown-data-set"),
    pytest.param(["data", "scrub"], "argument action: invalid choice: 'scrub'", id="data-action"),
    pytest.param(["book", "--preset", "huge"], "unknown preset 'huge'", id="book-preset"),
    pytest.param(["book", "--chapters", "99"], "no chapter matches \\['99'\\]; chapters: 01_",
                 id="book-chapter"),
    pytest.param(["book", "--param", "pears=2"], "has no parameter 'pears'; its parameters: preset",
                 id="papermill-unknown-name"),
    pytest.param(["book", "--param", "preset=3"], "parameter 'preset' must be like its default "
                 "\"quick\", got int 3; pass", id="papermill-wrong-type"),
    pytest.param(["book", "--param", "device=[0]"], "parameter 'device' must be like its default",
                 id="papermill-list-for-string"),
    pytest.param(["book", "--param", "pairs"], "malformed --param 'pairs'; write --param NAME=VALUE",
                 id="papermill-malformed"),
]


def lmc_here(args, capsys) -> tuple[int, str]:
    """Run the CLI in this process: (exit status, stderr)."""
    try:
        status = cli.main(args)
    except SystemExit as e:  # argparse exits on its own errors
        status = e.code
    return status, capsys.readouterr().err


def assert_one_line_error(status, err, message):
    import re

    assert status == 2, err
    assert err.startswith("lmc: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert message in err or re.search(message, err), err  # literal text or a pattern
    assert "; " in err  # what is wrong; what to do


@pytest.mark.parametrize("args, message, setup, needs_mnist", CLI_ROWS)
def test_bad_run_input(args, message, setup, needs_mnist, request, cache, tmp_path, monkeypatch,
                       capsys):
    if needs_mnist:
        request.getfixturevalue("mnist")
    data._load.cache_clear()  # data sets are cached per process; rows change LMC_DATA_DIR
    if setup is not None:
        setup(tmp_path, monkeypatch)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "r.nc")]
    before = snapshot(cache)
    status, err = lmc_here(SMOKE + args, capsys)
    monkeypatch.undo()  # os.replace and mkstemp back before anything else runs
    data._load.cache_clear()
    assert_one_line_error(status, err, message)
    assert snapshot(cache) == before
    assert not (tmp_path / "r.nc").exists()


@pytest.mark.parametrize("args, message", OTHER_COMMANDS)
def test_bad_command_input(args, message, cache, capsys):
    before = snapshot(cache)
    status, err = lmc_here(args, capsys)
    assert_one_line_error(status, err, message)
    assert snapshot(cache) == before


@pytest.mark.parametrize("args, message", [
    (SMOKE + ["--preset", "huge"], "unknown preset 'huge'"),
    (SMOKE + ["--pairs", "two"], "invalid int value: 'two'"),
    (["book", "--param", "preset=3"], "must be like its default"),
])
def test_a_real_process_exits_with_one_line(args, message, cache):
    before = snapshot(cache)
    result = subprocess.run([sys.executable, "-m", "lmc.cli", *args], capture_output=True, text=True,
                            check=False)
    assert_one_line_error(result.returncode, result.stderr, message)
    assert snapshot(cache) == before


def test_a_missing_data_set_in_a_real_process(cache, tmp_path):
    result = subprocess.run([sys.executable, "-m", "lmc.cli", *SMOKE, "--out", str(tmp_path / "r.nc")],
                            capture_output=True, text=True, check=False, env={**os.environ, "LMC_DATA_DIR": str(tmp_path)})
    assert_one_line_error(result.returncode, result.stderr, "lmc data fetch mnist")


# --- the Python API, where no command takes the value ---------------------------------------------

def _mask():
    return {"w": torch.ones(4, 5, dtype=torch.bool)}


def _weights():
    return {"w": torch.arange(20.0).view(4, 5)}


def _chapter():
    return book.select(["01"])[0]


def _finished_run():
    run = store.open_run(train.run_config(hparams.Hparams(training_steps="60it", train_subset=600),
                                          data_seed=0, init_seed=0))
    store.save_checkpoint(run, {"step": 60, "model": {}, "optimizer": None})
    return run


# (setup run before the snapshot: its result is the call's argument, call, error, message)
API_ROWS = [
    pytest.param(None, lambda _: prune.prune_to_density(_weights(), _mask(), 0), ConfigError,
                 r"density must be in \(0, 1\], got 0", id="density-zero"),
    pytest.param(None, lambda _: prune.prune_to_density(_weights(), _mask(), 1.5), ConfigError,
                 r"density must be in \(0, 1\], got 1.5", id="density-above-one"),
    pytest.param(None, lambda _: prune.prune_to_density(_weights(), _mask(), -0.2), ConfigError,
                 r"density must be in \(0, 1\]", id="density-negative"),
    pytest.param(None, lambda _: prune.prune_to_density(_weights(), _mask(), float("nan")),
                 ConfigError, r"density must be in \(0, 1\], got nan", id="density-nan"),
    pytest.param(None, lambda _: prune.prune_to_density(_weights(), _mask(), "half"), ConfigError,
                 r"density must be in \(0, 1\], got 'half'", id="density-string"),
    pytest.param(None, lambda _: prune.magnitude_prune(_weights(), _mask(), 1.0), ConfigError,
                 r"fraction must be in \[0, 1\)", id="prune-fraction-one"),
    pytest.param(None, lambda _: interpolate.alphas(1), ConfigError,
                 "need at least 2 interpolation points", id="alphas-one"),
    pytest.param(None, lambda _: interpolate.alphas(2.5), ConfigError,
                 "need at least 2 interpolation points", id="alphas-fraction"),
    pytest.param(None, lambda _: instability.instability_config(n_alpha=1, preset="smoke"),
                 ConfigError, "need at least 2 interpolation points", id="config-one-alpha"),
    pytest.param(None, lambda _: book.execute(_chapter(), Path("x.ipynb"), {"preset": 3}),
                 ConfigError, "parameter 'preset' must be like its default", id="papermill-int"),
    pytest.param(None, lambda _: book.execute(_chapter(), Path("x.ipynb"), {"preset": None}),
                 ConfigError, "parameter 'preset' must be like its default", id="papermill-none"),
    pytest.param(None, lambda _: book.execute(_chapter(), Path("x.ipynb"), {"seeds": [0]}),
                 ConfigError, "has no parameter 'seeds'; its parameters: preset",
                 id="papermill-unknown"),
    pytest.param(None, lambda _: instability.resolve_device("cuda"), ConfigError,
                 "torch sees no GPU", id="api-cuda-without-gpu", marks=NO_GPU),
    pytest.param(_finished_run, lambda run: train.state_at(run, 61), ConfigError,
                 "step 61 is outside this run's steps 0..60", id="step-not-in-run"),
    pytest.param(None, lambda _: hparams.Hparams(batch_size=0), ConfigError, "batch_size must be",
                 id="batch-size-zero"),
    pytest.param(None, lambda _: hparams.Hparams(training_steps="lots"), ConfigError,
                 "malformed step 'lots'", id="hparams-step"),
    pytest.param(None, lambda _: instability.instability_curve(
        instability.instability_config(preset="smoke"), []), ConfigError,
                 "rewind_steps must be a non-empty list", id="empty-rewind-list"),
    pytest.param(None, lambda _: store.get("0123456789abcdef"), CacheError, "no run 0123456789abcdef",
                 id="unknown-run"),
]


@pytest.mark.parametrize("setup, call, error, message", API_ROWS)
def test_bad_api_input(setup, call, error, message, request, cache, tmp_path, monkeypatch):
    if setup is _finished_run:
        request.getfixturevalue("mnist")
    argument = setup() if setup else None
    monkeypatch.chdir(tmp_path)  # nothing may be written here either
    before = snapshot(cache)
    with pytest.raises(error, match=message) as caught:
        call(argument)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, LMCError)
    assert snapshot(cache) == before
    assert os.listdir(tmp_path) == []


def test_the_tables_have_at_least_30_rows():
    assert len(CLI_ROWS) + len(OTHER_COMMANDS) + len(SWEEP_ROWS) >= 30 and len(API_ROWS) >= 15


SWEEP = ["sweep", "instability", "--preset", "smoke", "--dry-run"]
NO_SBATCH = pytest.mark.skipif(bool(shutil.which("sbatch")), reason="this machine has Slurm")

SWEEP_ROWS = [
    pytest.param(SWEEP + ["--executor", "pbs"], "argument --executor: invalid choice: 'pbs'",
                 id="sweep-unknown-executor"),
    pytest.param(SWEEP + ["--time", "soon"], "malformed time 'soon'; write minutes", id="sweep-time"),
    pytest.param(SWEEP + ["--time", "0"], "malformed time '0'", id="sweep-zero-time"),
    pytest.param(SWEEP + ["--rewind", "300"], "must be before the end of training", id="sweep-k-at-T"),
    pytest.param(SWEEP + ["--rewind", "0", "0it"], "name the same step twice", id="sweep-repeated-k"),
    pytest.param(SWEEP + ["--gpus", "-1"], "gpus must be a non-negative integer", id="sweep-gpus"),
    pytest.param(SWEEP + ["--array-parallelism", "0"], "array_parallelism must be a positive",
                 id="sweep-parallelism"),
    pytest.param(SWEEP + ["--model", "vgg_99"], "no Table 1 setting for model 'vgg_99'",
                 id="sweep-unknown-model"),
    pytest.param(["sweep", "imp"], "argument experiment: invalid choice: 'imp'", id="sweep-experiment"),
    pytest.param(["sweep", "instability", "--preset", "smoke", "--executor", "slurm"],
                 "needs sbatch, which is not on this machine", id="sweep-slurm-without-sbatch",
                 marks=NO_SBATCH),
    pytest.param(["sweep", "instability", "--preset", "smoke"], "data set 'mnist' not found",
                 id="sweep-missing-data"),
    pytest.param(["sweep", "instability", "--preset", "smoke", "--device", "cuda"],
                 "torch sees no GPU", id="sweep-cuda-without-gpu", marks=NO_GPU),
]


@pytest.mark.parametrize("args, message", SWEEP_ROWS)
def test_bad_sweep_input(args, message, cache, capsys, tmp_path, monkeypatch):
    empty_data_dir(tmp_path, monkeypatch)  # a sweep that got past its checks would fail, not hang
    before = snapshot(cache)
    status, err = lmc_here(args, capsys)
    assert_one_line_error(status, err, message)
    assert snapshot(cache) == before
