"""Fault injection: kill runs with SIGKILL at random moments; do they resume to identical results?

Each trial starts a small training run (LeNet-300-100 on a 3,000-example MNIST subset,
300 steps, a resume point every 10 steps) in a fresh run cache, kills it with SIGKILL
at a random moment 1-3 times (sometimes also damaging the newest checkpoint file, as a
failing disk or an interrupted copy would), restarts it until it finishes, and compares
the final weights and optimizer state bit for bit with an uninterrupted run. CLI trials
do the same to ``lmc run instability --preset smoke``, chapter trials to chapter 01
executed by papermill with the smoke preset (its kernel killed with it), IMP trials to
chapter 04 (an IMP sweep of 15 levels, then the sparse copies), and compare the netCDF
results.

    python -m tests.faults.inject          # 20 training, 3 CLI, 2 chapter and 2 IMP trials
    python -m tests.faults.inject --trials 3 --cli-trials 1 --chapter-trials 0 --seed 1
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HPARAMS = {"training_steps": "300it", "train_subset": 3000}
RESUME_EVERY = 10
CLI = ["run", "instability", "--preset", "smoke", "--rewind", "100", "--quiet"]
CHAPTER = "chapters/01_instability_at_init.ipynb"
IMP_CHAPTER = "chapters/04_lottery_tickets_at_init.ipynb"


def cli_command(folder: Path) -> tuple[list[str], Path]:
    """The killed command and the netCDF it writes: ``lmc run instability`` (smoke)."""
    out = folder / "result.nc"
    return [sys.executable, "-m", "lmc.cli", *CLI, "--out", str(out)], out


def _papermill(chapter: str, folder: Path, result: str | None = None) -> tuple[list[str], Path]:
    """A chapter executed by papermill with the smoke preset, and the netCDF it writes
    (``result``: its path under the chapter's folder, for chapters that write one file per network)."""
    stem = Path(chapter).stem
    return ([sys.executable, "-m", "papermill", chapter, str(folder / Path(chapter).name), "-p", "preset",
             "smoke", "-p", "results_dir", str(folder), "--no-progress-bar"],
            folder / "smoke" / (f"{stem}/{result}" if result else f"{stem}.nc"))


def chapter_command(folder: Path) -> tuple[list[str], Path]:
    """The killed command and the netCDF it writes: chapter 01 through papermill (smoke)."""
    return _papermill(CHAPTER, folder)


def imp_command(folder: Path) -> tuple[list[str], Path]:
    """The killed command and the netCDF it writes: chapter 04 (smoke), an IMP sweep of 15
    levels then the dense, IMP and random-baseline copies."""
    return _papermill(IMP_CHAPTER, folder, "lenet_300_100_standard.nc")


def _env(cache: Path) -> dict:
    return {**os.environ, "LMC_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _run():
    from lmc.core import hparams, store, train

    hp = hparams.Hparams(**HPARAMS)
    return store.open_run(train.run_config(hp, data_seed=0, init_seed=0)), hp


def worker() -> None:
    """The run under test: load the data, say "ready", train to the end (resuming if cut off)."""
    import torch

    from lmc.core import data, models, train

    torch.set_num_threads(1)
    run, hp = _run()
    data.load(hp.dataset, "cpu", hp.train_subset, None, models.IMAGE_SIZE.get(hp.model))
    print("ready", flush=True)
    train.state_at(run, 300, progress=False, resume_every=RESUME_EVERY)
    print("done", flush=True)


def final_state(cache: Path) -> dict:
    """The finished run's state at its last step, read from ``cache``."""
    from lmc.core import store

    os.environ["LMC_CACHE_DIR"] = str(cache)
    run, _ = _run()
    return store.load_checkpoint(run, 300)


def identical(a, b) -> bool:
    """Bit-for-bit equality of nested states (tensors, dicts, lists, numbers)."""
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def damage_newest(cache: Path, rng: random.Random) -> str | None:
    """Truncate or flip a byte of the newest checkpoint file (what atomic writes cannot prevent)."""
    files = [p for p in (cache / "runs").rglob("*.pt") if "corrupt" not in p.parts]
    if not files:
        return None
    path = max(files, key=lambda p: p.stat().st_mtime_ns)
    raw = bytearray(path.read_bytes())
    if rng.random() < 0.5:
        raw = raw[:rng.randrange(len(raw))]
    else:
        raw[rng.randrange(len(raw))] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path.name


def _start(command: list[str], cache: Path) -> subprocess.Popen:
    """Start ``command`` in its own process group (so a kill takes a notebook's kernel too)."""
    return subprocess.Popen(command, cwd=ROOT, env=_env(cache), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` and its children after ``delay`` seconds; True if it was still running."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


WORKER = [sys.executable, "-m", "tests.faults.inject", "--worker"]


def training_trial(rng: random.Random, reference: dict, duration: float, damage: float) -> dict:
    """Kill a training run 1-3 times at random moments, let it finish, compare with ``reference``."""
    with tempfile.TemporaryDirectory(prefix="lmc-fault-") as tmp:
        cache = Path(tmp)
        kills, damaged = 0, []
        for attempt in range(rng.randint(1, 3)):
            proc = _start(WORKER, cache)
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"worker failed to start: {proc.communicate()[1][-2000:]}")
            # the first kill lands within the training; later ones anywhere (it may finish first)
            kills += _kill_after(proc, rng.uniform(0, 0.8 * duration if attempt == 0 else 1.1 * duration))
            proc.stdout.close()
            proc.stderr.close()
            if rng.random() < damage and (name := damage_newest(cache, rng)):
                damaged.append(name)
        proc = _start(WORKER, cache)
        _, err = proc.communicate()
        if proc.returncode != 0:
            return {"ok": False, "kills": kills, "damaged": damaged, "error": err[-2000:]}
        return {"ok": identical(final_state(cache), reference), "kills": kills, "damaged": damaged,
                "discarded": err.count("discarded")}


def command_trial(rng: random.Random, make_command, reference, duration: float) -> dict:
    """Kill a command 1-3 times at random moments, let it finish, compare its netCDF result."""
    from lmc.core import results

    with tempfile.TemporaryDirectory(prefix="lmc-fault-") as tmp:
        cache = Path(tmp)
        command, out = make_command(cache)
        kills = 0
        for attempt in range(rng.randint(1, 3)):
            proc = _start(command, cache)
            kills += _kill_after(proc, rng.uniform(0, 0.8 * duration if attempt == 0 else 1.1 * duration))
            proc.communicate()
        proc = _start(command, cache)
        _, err = proc.communicate()
        if proc.returncode != 0:
            return {"ok": False, "kills": kills, "error": err[-2000:]}
        ds = results.load(out)
        same = ds.attrs["config_hash"] == reference.attrs["config_hash"] and all(
            ds[v].equals(reference[v]) for v in ("error", "loss", "instability"))
        return {"ok": same, "kills": kills}


def command_trials(name: str, make_command, trials: int, rng: random.Random) -> int:
    """Run the reference and ``trials`` killed runs of a command; returns how many differed."""
    from lmc.core import results

    with tempfile.TemporaryDirectory(prefix="lmc-fault-ref-") as tmp:
        command, out = make_command(Path(tmp))
        start = time.time()
        subprocess.run(command, cwd=ROOT, env=_env(Path(tmp)), check=True, capture_output=True)
        duration = time.time() - start
        reference = results.load(out)
    print(f"reference: {name} in {duration:.1f} s", flush=True)
    ok = kills = 0
    for i in range(trials):
        r = command_trial(rng, make_command, reference, duration)
        ok, kills = ok + r["ok"], kills + r["kills"]
        verdict = "identical" if r["ok"] else "FAILED" if "error" in r else "DIFFERENT"
        print(f"{name} trial {i + 1}: {verdict} after {r['kills']} kills"
              + (f"\n{r['error']}" if "error" in r else ""), flush=True)
    print(f"{name}: {ok}/{trials} resumed to identical results ({kills} kills)", flush=True)
    return trials - ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=20, help="killed training runs (default 20)")
    p.add_argument("--cli-trials", type=int, default=3, help="killed `lmc run instability` commands")
    p.add_argument("--chapter-trials", type=int, default=2, help="killed papermill runs of chapter 01")
    p.add_argument("--imp-trials", type=int, default=2,
                   help="killed papermill runs of chapter 04 (an IMP sweep)")
    p.add_argument("--damage", type=float, default=0.25,
                   help="probability of damaging the newest checkpoint after a kill")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker()
        return 0
    rng = random.Random(args.seed)
    failed = 0
    if args.trials:
        with tempfile.TemporaryDirectory(prefix="lmc-fault-ref-") as tmp:
            proc = _start(WORKER, Path(tmp))
            proc.stdout.readline()
            start = time.time()
            if proc.wait() != 0:
                raise RuntimeError(f"reference run failed: {proc.stderr.read()[-2000:]}")
            duration = time.time() - start
            reference = final_state(Path(tmp))
        print(f"reference: {HPARAMS}, resume point every {RESUME_EVERY} steps, "
              f"{duration:.1f} s of training", flush=True)
        ok = kills = damaged = killed = 0
        for i in range(args.trials):
            r = training_trial(rng, reference, duration, args.damage)
            ok, kills, damaged = ok + r["ok"], kills + r["kills"], damaged + len(r["damaged"])
            killed += r["kills"] > 0
            verdict = "identical" if r["ok"] else "FAILED" if "error" in r else "DIFFERENT"
            print(f"trial {i + 1}: {verdict} after {r['kills']} kills"
                  + (f", damaged {', '.join(r['damaged'])}" if r["damaged"] else "")
                  + (f" ({r['discarded']} files discarded)" if r.get("discarded") else "")
                  + (f"\n{r['error']}" if "error" in r else ""), flush=True)
        print(f"training: {ok}/{args.trials} resumed to identical results ({kills} kills, "
              f"{killed} trials killed at least once, {damaged} damaged files)", flush=True)
        failed += args.trials - ok
    if args.cli_trials:
        failed += command_trials("cli", cli_command, args.cli_trials, rng)
    if args.chapter_trials:
        failed += command_trials("chapter", chapter_command, args.chapter_trials, rng)
    if args.imp_trials:
        failed += command_trials("imp", imp_command, args.imp_trials, rng)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
