"""Faults: two processes asking for one run, damaged checkpoints, runs killed at random moments."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lmc.core import store, train

WORKER = textwrap.dedent("""
    import json, sys, time
    import torch
    torch.set_num_threads(1)
    from lmc.core import hparams, loop, store, train
    trained = []
    real_train = loop.train
    def slow_train(*args, **kwargs):  # long enough that the other process must wait on the lock
        trained.append(1)
        time.sleep(1.5)
        return real_train(*args, **kwargs)
    loop.train = slow_train
    run = store.open_run(train.run_config(hparams.Hparams(training_steps="60it", train_subset=600),
                                          data_seed=0, init_seed=0))
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start together
    start = time.time()
    state = train.state_at(run, 60, progress=False)
    torch.save(state["model"], sys.argv[1])
    print(json.dumps({"trained": len(trained), "seconds": time.time() - start}), flush=True)
""")


def test_two_processes_asking_for_one_run_compute_it_once(mnist, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"{i}.pt")], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    reports = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(r["trained"] for r in reports) == [0, 1]  # one computed, the other reused
    waiter = next(r for r in reports if r["trained"] == 0)
    assert waiter["seconds"] > 1.0  # it waited for the lock rather than reading a half-made run
    a, b = (torch.load(tmp_path / f"{i}.pt") for i in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)  # one run's file, read by both: exact


def test_a_damaged_final_checkpoint_is_recomputed_to_the_same_weights(mnist, small_hparams):
    run = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    first = train.state_at(run, 60, progress=False, resume_every=20)["model"]
    path = run.checkpoint_path(60)
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    with pytest.warns(UserWarning, match="discarded"):
        again = train.state_at(run, 60, progress=False, resume_every=20)["model"]
    # retrained from the resume point at 40: the same operations in the same order, bit-identical by design
    assert all(torch.equal(first[k], again[k]) for k in first)


def _inject(*args):
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "tests.faults.inject", *args], cwd=root,
                          capture_output=True, text=True, timeout=600, check=False)


def test_training_killed_at_random_moments_resumes_to_identical_weights(mnist):
    result = _inject("--trials", "2", "--cli-trials", "0", "--chapter-trials", "0", "--imp-trials", "0",
                     "--damage", "0.5", "--seed", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"training: 2/2 resumed to identical results \((\d+) kills", result.stdout)
    assert summary and int(summary.group(1)) >= 1, result.stdout  # something was really killed


@pytest.mark.slow
@pytest.mark.parametrize("kind, seed", [("cli", 2), ("chapter", 3), ("imp", 4)])
def test_a_killed_command_resumes_to_an_identical_netcdf(mnist, kind, seed):
    """``lmc run instability``, chapter 01 or chapter 04's IMP sweep, killed and resumed."""
    counts = {"cli": "0", "chapter": "0", "imp": "0", kind: "1"}
    result = _inject("--trials", "0", "--cli-trials", counts["cli"], "--chapter-trials", counts["chapter"],
                     "--imp-trials", counts["imp"], "--seed", str(seed))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(rf"{kind}: 1/1 resumed to identical results \((\d+) kills", result.stdout)
    assert summary and int(summary.group(1)) >= 1, result.stdout


def test_identical_tells_a_single_bit_apart():
    from tests.faults.inject import identical

    a = {"model": {"w": torch.ones(3)}, "optimizer": {"state": {0: {"step": torch.tensor(5.0)}},
                                                      "param_groups": [{"lr": 0.1}]}}
    b = {"model": {"w": torch.ones(3)}, "optimizer": {"state": {0: {"step": torch.tensor(5.0)}},
                                                      "param_groups": [{"lr": 0.1}]}}
    assert identical(a, b)
    b["model"]["w"][1] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    assert not identical(a, b)
    b["model"]["w"][1] = 1.0
    b["optimizer"]["param_groups"][0]["lr"] = 0.1000001
    assert not identical(a, b)
