"""Faults: two processes asking for one run, damaged checkpoints, runs killed at random moments."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from lmc import store, train

WORKER = textwrap.dedent("""
    import json, sys, time
    import torch
    torch.set_num_threads(1)
    from lmc import store, train
    trained = []
    real_train = train.train
    def slow_train(*args, **kwargs):  # long enough that the other process must wait on the lock
        trained.append(1)
        time.sleep(1.5)
        return real_train(*args, **kwargs)
    train.train = slow_train
    run = store.open_run(train.run_config(train.Hparams(training_steps="60it", train_subset=600),
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
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_damaged_final_checkpoint_is_recomputed_to_the_same_weights(mnist, small_hparams):
    run = store.open_run(train.run_config(small_hparams, data_seed=0, init_seed=0))
    first = train.state_at(run, 60, progress=False, resume_every=20)["model"]
    path = run.checkpoint_path(60)
    path.write_bytes(path.read_bytes()[:-50])  # truncated
    with pytest.warns(UserWarning, match="discarded"):
        again = train.state_at(run, 60, progress=False, resume_every=20)["model"]
    assert all(torch.equal(first[k], again[k]) for k in first)
