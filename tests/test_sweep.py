"""lmc sweep: a chapter's grid as submitit jobs; idempotent through the run cache."""

import os
import pickle

import pytest

from lmc import cli, sweep
from lmc.core import loop, store
from lmc.experiments import instability


def _runs():
    """Each run folder: its files with their modification times (a rewrite would show)."""
    folder = store.cache_dir() / "runs"
    return {p.name: {f.name: f.stat().st_mtime_ns for f in p.rglob("*")}
            for p in folder.iterdir()} if folder.is_dir() else {}


def test_a_local_sweep_computes_the_grid_once_and_the_cli_then_only_renders(mnist, tmp_path, monkeypatch,
                                                                            capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = ["sweep", "instability", "--preset", "smoke", "--rewind", "0", "100",
            "--array-parallelism", "2", "--log-dir", str(tmp_path / "logs")]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "k=0 seed=0: test instability" in out and "k=100 seed=0: test instability" in out
    assert "2 jobs done" in out
    runs = _runs()
    assert len(runs) == 7  # trunk, 2 copies per k, one path per k
    assert sum("result.json" in files for files in runs.values()) == 2

    assert cli.main(args) == 0  # the same sweep again: every job finds its runs
    assert _runs() == runs

    def no_training(*args, **kwargs):
        raise AssertionError("a run was recomputed after the sweep")

    monkeypatch.setattr(loop, "train", no_training)
    assert cli.main(["run", "instability", "--preset", "smoke", "--rewind", "0", "100", "--quiet",
                     "--out", str(tmp_path / "r.nc")]) == 0
    config, grid = instability.curve_configs("smoke")["lenet_300_100"]  # what chapter 02 asks for
    ds = instability.instability_curve(config, grid, progress=False)
    assert ds.rewind_step.values.tolist() == [0, 100]
    assert _runs() == runs


def test_jobs_follow_the_chapter_grid_and_requeue_themselves():
    jobs = sweep.jobs("schedule", preset="smoke")
    assert [sweep.label(j.config) for j in jobs] == ["k=0 seed=0", "k=100 seed=0",
                                                     "k=100 seed=0 schedule reset"]
    again = pickle.loads(pickle.dumps(jobs[1]))  # what submitit sends to a node
    assert again.config == jobs[1].config
    delayed = jobs[1].checkpoint()  # Slurm pre-emption: the same job is resubmitted
    assert delayed.function is jobs[1]


def test_a_slurm_dry_run_prints_the_array_without_submitting(capsys):
    assert cli.main(["sweep", "instability", "--preset", "quick", "--executor", "slurm",
                     "--partition", "gpu", "--time", "1-02:00:00", "--array-parallelism", "4",
                     "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("4 jobs, executor slurm: timeout_min=1560, name=lmc-sweep, gpus_per_node=1, "
                      "cpus_per_task=4, slurm_array_parallelism=4, slurm_partition=gpu")
    assert out[1:] == ["  k=0 seed=0", "  k=100 seed=0", "  k=500 seed=0", "  k=2000 seed=0"]
    assert not os.path.exists(store.cache_dir() / "runs")


@pytest.mark.parametrize("text, minutes", [("90", 90), ("4:00:00", 240), ("0:00:30", 1),
                                           ("1-00:00:00", 1440)])
def test_time_limits(text, minutes):
    assert sweep.minutes(text) == minutes


def test_a_failed_job_is_reported_in_one_line_with_its_log():
    from types import SimpleNamespace

    from lmc.core.errors import LMCError

    def failed():
        raise RuntimeError("Traceback (most recent call last):\n  ...\nDataError: boom")

    jobs = sweep.jobs(preset="smoke")
    handles = [SimpleNamespace(result=lambda: {"label": "k=0 seed=0", "test_instability": 0.5,
                                               "seconds": 3.0}),
               SimpleNamespace(result=failed, paths=SimpleNamespace(stderr="/logs/2_0_log.err"))]
    with pytest.raises(LMCError, match=r"^1 of 2 jobs failed: k=100 seed=0 \(log /logs/2_0_log.err\); "
                                       r"read the logs") as caught:
        sweep.report(jobs, handles)
    assert "\n" not in str(caught.value)
