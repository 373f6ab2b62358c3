"""The paper-protocol archive: shards, their commands, computing each once, combining them,
what is missing, the `lmc status` / `lmc archive compute` commands, and chapter 01 showing it."""

import json
import shutil
import subprocess
import warnings

import pytest
import xarray as xr

from lmc import cli
from lmc.core import results
from lmc.core.errors import ConfigError, LMCError
from lmc.experiments import archive, instability, sparse, tables
from lmc.report import book, status

CH01 = "01_instability_at_init"


def test_plan_gives_every_shard_its_path_and_command():
    shards = archive.plan("01")
    assert [s.name for s in shards] == ["init0", "init1", "init2"]
    assert str(shards[1].path) == "results/paper/01_instability_at_init/lenet_300_100_standard/init1.nc"
    assert shards[1].command == "lmc archive compute --chapter 01 --model lenet_300_100 --init-seed 1"
    curve = archive.plan("02")  # the paper's k grid for LeNet, every initialization at each k
    assert len(curve) == 8 * 3 and [s.name for s in curve[:4]] == ["k0_init0", "k0_init1", "k0_init2", "k25_init0"]
    assert curve[-1].name == "k2000_init2"
    assert curve[-1].command.endswith("--init-seed 2 --rewind 2000")
    assert str(curve[-1].path).endswith("02_instability_during_training/lenet_300_100_standard/k2000_init2.nc")
    assert len(archive.plan("03")) == 24 and len(archive.plan("05")) == 24
    assert [s.name for s in archive.plan("04")] == ["init0", "init1", "init2"]  # k = 0, every subnetwork
    smoke = archive.plan("02", preset="smoke", results_dir="/tmp/r")
    assert [s.name for s in smoke] == ["k0_init0", "k100_init0"]
    assert smoke[0].command == ("lmc archive compute --chapter 02 --model lenet_300_100 --preset smoke "
                                "--results-dir /tmp/r --init-seed 0 --rewind 0")
    assert archive.chapter_command("04", jobs=2) == "lmc archive compute --chapter 04 --model lenet_300_100 --jobs 2"
    with pytest.raises(ConfigError, match="the archive has no chapter '06'"):
        archive.plan("06")


def test_chapter_04_shards_hold_both_random_pruning_rules(monkeypatch):
    seen = {}
    monkeypatch.setattr(sparse, "sparse_instability",
                        lambda config, levels, subnetworks, **kw: seen.update(config=config, levels=levels,
                                                                              subnetworks=subnetworks))
    archive._experiment(archive.plan("04")[2], "cpu", False)
    assert seen["subnetworks"] == sparse.KNOWN_SUBNETWORKS and "random_prune_global" in seen["subnetworks"]
    assert seen["levels"] == 15 and seen["config"].init_seeds == (2,) and seen["config"].pairs == 3
    assert seen["config"].n_alpha == 30 and seen["config"].rewind_step == "0"


def test_training_steps_of_the_paper_protocol():
    assert archive.training_steps("01") == {"steps": 3 * 3 * 2 * 24_000, "paths": 9}
    # trunk to T, 14 IMP retrainings, 5 subnetworks × 3 pairs × 2 copies, per initialization
    assert archive.training_steps("04") == {"steps": 3 * (1 + 14 + 30) * 24_000, "paths": 45}
    assert archive.cpu_hours("01", steps_per_second=400, path_seconds=0) == pytest.approx(432_000 / 400 / 3600)


@pytest.fixture(scope="module")
def smoke_shards(mnist, tmp_path_factory, smoke_cache):
    """Chapter 01's smoke shards of initializations 0 and 1, computed once (in the session's smoke
    cache, so chapter 01's own smoke runs are shared), counting the experiments computed."""
    root = tmp_path_factory.mktemp("archive")
    calls = []
    real = instability.instability_analysis
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMC_CACHE_DIR", str(smoke_cache))
        patch.setattr(instability, "instability_analysis", lambda *a, **k: calls.append(a) or real(*a, **k))
        shards = [archive.Shard(CH01, "lenet_300_100", preset="smoke", init_seed=i, results_dir=str(root))
                  for i in (0, 1)]
        for shard in shards:
            archive.compute(shard, "cpu")
        for shard in shards:  # a second call finds the file: nothing is computed again
            archive.compute(shard, "cpu")
    return {"root": root, "shards": shards, "calls": calls}


def test_compute_writes_a_shard_once(smoke_shards, monkeypatch):
    assert len(smoke_shards["calls"]) == 2  # two shards, each computed once over two calls
    shard = smoke_shards["shards"][0]
    assert shard.path.name == "init0.nc" and archive.readable(shard)
    ds = results.load(shard.path)
    assert ds.init_seed.values.tolist() == [0] and ds.sizes["pair"] == 1
    assert ds.attrs["wall_seconds"] > 0 and ds.attrs["cpu_seconds"] > 0 and ds.attrs["shard"] == "init0"
    assert ds.attrs["shard_command"] == shard.command and ds.attrs["torch_threads"] >= 1
    monkeypatch.setattr(archive, "_experiment", lambda *a: pytest.fail("an archived shard was recomputed"))
    assert archive.compute(shard) == shard.path


def test_an_unreadable_shard_is_missing_and_kept_aside(smoke_shards, tmp_path, monkeypatch):
    shard = archive.Shard(CH01, "lenet_300_100", preset="smoke", results_dir=str(tmp_path))
    shard.path.parent.mkdir(parents=True)
    shard.path.write_bytes(b"cut off")
    assert archive.missing(CH01, preset="smoke", results_dir=tmp_path) == [shard]
    monkeypatch.setattr(archive, "_experiment", lambda *a: results.load(smoke_shards["shards"][0].path))
    archive.compute(shard)
    assert archive.readable(shard) and len(list(shard.folder.glob("init0.unreadable-*.nc"))) == 1
    assert archive.missing(CH01, preset="smoke", results_dir=tmp_path) == []
    assert status.result_files(tmp_path, "smoke", CH01) == [shard.path]  # the kept file is not a result


def test_combine_concatenates_shards_along_init_seed_with_their_provenance(smoke_shards, tmp_path):
    shards = smoke_shards["shards"]
    ds = archive.combine(shards)
    assert ds.init_seed.values.tolist() == [0, 1] and ds.instability.dims == ("init_seed", "pair", "split")
    for seed, shard in zip((0, 1), shards):
        xr.testing.assert_equal(ds.instability.sel(init_seed=[seed]), results.load(shard.path).instability)
    config = results.config_of(ds)
    assert config["init_seeds"] == [0, 1] and config["preset"] == "smoke"
    entries = json.loads(ds.attrs["shards"])
    assert [e["file"] for e in entries] == ["init0.nc", "init1.nc"]
    assert all(e["created"] and e["cpu"] and e["torch_threads"] and e["wall_seconds"] > 0 for e in entries)
    assert ds.attrs["cpu_seconds_total"] == pytest.approx(sum(e["cpu_seconds"] for e in entries))
    assert archive.protocol(ds) == "300 of Table 1's 24,000 iterations, 2 initializations × 1 pair, 5 α"
    # a shard of another protocol is refused
    other = archive.Shard(CH01, "lenet_300_100", preset="smoke", init_seed=1, results_dir=str(tmp_path))
    other.path.parent.mkdir(parents=True)
    changed = results.load(shards[1].path)
    config = results.config_of(changed)
    config["n_alpha"] = 7
    changed.attrs["config"] = json.dumps(config)
    changed.to_netcdf(other.path, engine="h5netcdf")
    with pytest.raises(LMCError, match="another configuration"):
        archive.combine([shards[0], other])


def test_missing_lists_what_is_absent(smoke_shards, tmp_path):
    assert [s.name for s in archive.missing("01", results_dir=tmp_path)] == ["init0", "init1", "init2"]
    assert archive.load("01", results_dir=tmp_path) is None
    shutil.copytree(smoke_shards["root"] / "smoke", tmp_path / "paper")  # smoke shards standing in for paper ones
    assert [s.name for s in archive.missing("01", results_dir=tmp_path)] == ["init2"]
    assert [s.name for s in archive.present("01", results_dir=tmp_path)] == ["init0", "init1"]
    rows = archive.status(tmp_path, chapters=["01"])
    assert [(r["shard"], r["present"]) for r in rows] == [("init0", True), ("init1", True), ("init2", False)]


def test_status_cli_prints_missing_shards_with_their_commands(smoke_shards, tmp_path, capsys):
    shutil.copytree(smoke_shards["root"] / "smoke", tmp_path / "paper")
    assert cli.main(["status", "--chapters", "01", "04", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "01_instability_at_init  lenet_300_100_standard: 2 of 3 shards" in out
    assert "present  init0" in out and "present  init1" in out
    cpu = sum(results.load(s.path).attrs["cpu_seconds"] for s in smoke_shards["shards"]) / 3600
    assert f"the 2 computed took {cpu:.2f} CPU hours" in out  # measured, from the shards' own records
    assert (f"missing  init2        lmc archive compute --chapter 01 --model lenet_300_100 "
            f"--results-dir {tmp_path} --init-seed 2") in out
    assert "04_lottery_tickets_at_init  lenet_300_100_standard: 0 of 3 shards" in out
    assert f"lmc archive compute --chapter 04 --model lenet_300_100 --results-dir {tmp_path} --jobs" in out
    assert cli.main(["archive", "status", "--chapters", "01", "--results-dir", str(tmp_path)]) == 0
    assert "2 of 3 shards" in capsys.readouterr().out


def test_archive_compute_refuses_a_shard_that_is_not_in_the_plan(tmp_path, capsys):
    assert cli.main(["archive", "compute", "--chapter", "01", "--init-seed", "7", "--results-dir",
                     str(tmp_path)]) == 2
    assert "no shard of chapter 01 has init seed [7]" in capsys.readouterr().err


def test_each_shard_is_committed_as_soon_as_it_is_done(smoke_shards, tmp_path, monkeypatch):
    git = shutil.which("git")
    if git is None:
        pytest.skip("no git")
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True)
    run("init", "-q")
    run("config", "user.email", "t@example.org")
    run("config", "user.name", "t")
    (tmp_path / "other.txt").write_text("not ours to commit")
    run("add", "other.txt")

    def fake_compute(shard, device="auto", progress=False):
        shard.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(smoke_shards["shards"][0].path, shard.path)
        return shard.path

    monkeypatch.setattr(archive, "compute", fake_compute)
    done = archive.compute_missing("01", preset="smoke", results_dir=tmp_path / "results", commit=True,
                                   log=lambda *a: None)
    assert [s.name for s in done] == ["init0"]
    log = run("log", "--name-only", "--format=%s").stdout
    assert "results/smoke: 01_instability_at_init lenet_300_100_standard init0" in log
    assert "results/smoke/01_instability_at_init/lenet_300_100_standard/init0.nc" in log
    assert "other.txt" not in log  # only the shard's file


def test_status_table_reads_the_archived_shards(smoke_shards, tmp_path):
    shutil.copytree(smoke_shards["root"] / "smoke", tmp_path / "paper")
    rows = {row["item"].name: row for row in status.status(tmp_path, book.chapters()) if not row["stand_in"]}
    assert rows["Figure 2"]["paper"] and not rows["Figure 3"]["paper"]
    assert "(`paper`: 300 of Table 1's 24,000 iterations, 2 initializations × 1 pair, 5 α; 2 of 3 shards so far)" in rows["Figure 2"]["ours"]
    claim = status.claim_rows(tmp_path)[0]
    assert claim["preset"] == "paper" and "2 initializations" in claim["evidence"]


def test_beside_says_nothing_is_archived_and_gives_the_commands(tmp_path):
    table, quoted = archive.beside("01", results_dir=tmp_path)
    assert quoted["archive_label"].startswith("no paper-protocol result archived yet")
    assert quoted["archive_test_instability"] == archive.NOT_YET
    assert table.loc["init0", "command"] == f"lmc archive compute --chapter 01 --model lenet_300_100 --results-dir {tmp_path} --init-seed 0"
    assert table["command"].iloc[-1].endswith("--jobs " + str(archive.cores()))
    table, quoted = archive.beside("04", results_dir=tmp_path)
    assert "archive_random_prune_global" in quoted and len(table) == 4


@pytest.mark.slow
def test_chapter_01_shows_the_archived_result_beside_its_own(smoke_shards, smoke_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE_DIR", str(smoke_cache))
    shutil.copytree(smoke_shards["root"] / "smoke", tmp_path / "results" / "smoke")
    chapter = book.select(["01"])[0]
    out = book.execute(chapter, tmp_path / chapter.name, {"preset": "smoke", "results_dir": str(tmp_path / "results"),
                                                          "archive_preset": "smoke"}, progress=False)
    nb = json.loads(out.read_text())
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert "ours, `smoke` protocol (archived)" in html and "ours, this build (`smoke`)" in html
    assert "paper (Frankle et al. 2020)" in html and "1 initialization × 1 pair, 5 α" in html  # smoke: 1 shard
    glued = {o["metadata"]["scrapbook"]["name"]: "".join(o["data"]["application/papermill.record/text/plain"])
             for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
             if "scrapbook" in o.get("metadata", {})}
    assert "computed 20" in glued["archive_label"] and "1 shard)" in glued["archive_label"]
    assert glued["archive_result"].startswith("'test instability") and "the paper's bound" in glued["archive_verdict"]
    prose = "".join(nb["cells"][11]["source"])
    assert "{glue:text}`archive_result`" in prose and "{glue:text}`paper_bound`" in prose


@pytest.mark.slow
def test_archive_compute_runs_one_process_per_job(mnist, tmp_path, capsys):
    assert cli.main(["archive", "compute", "--chapter", "02", "--preset", "smoke", "--results-dir",
                     str(tmp_path), "--jobs", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "2 shard(s) to compute, 2 at a time" in out and "k0_init0 done" in out and "k100_init0 done" in out
    shards = archive.plan("02", preset="smoke", results_dir=tmp_path)
    assert all(archive.readable(s) for s in shards)
    assert all(results.load(s.path).attrs["torch_threads"] == max(1, archive.cores() // 2) for s in shards)
    ds = archive.load("02", preset="smoke", results_dir=tmp_path)
    assert ds.rewind_step.values.tolist() == [0, 100] and ds.init_seed.values.tolist() == [0]
    assert results.config_of(ds)["rewind_steps"] == ["0", "100"]
    assert tables.stable_from(ds) in (0, 100, None)


def test_a_shard_git_refuses_to_commit_is_kept_and_said(smoke_shards, tmp_path, monkeypatch):
    def fake_compute(shard, device="auto", progress=False):
        shard.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(smoke_shards["shards"][0].path, shard.path)
        return shard.path

    monkeypatch.setattr(archive, "compute", fake_compute)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # tmp_path is in no repository
    said = []
    archive.compute_missing("01", preset="smoke", results_dir=tmp_path, commit=True, log=said.append)
    assert archive.present("01", preset="smoke", results_dir=tmp_path)
    assert any("init0 saved but not committed: could not commit" in line for line in said)


@pytest.fixture(scope="module")
def smoke_curve_shards(mnist, tmp_path_factory, smoke_cache):
    """Chapters 02 and 03's smoke shards (LeNet, k = 0 and 100, initialization 0)."""
    root = tmp_path_factory.mktemp("curves")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMC_CACHE_DIR", str(smoke_cache))
        for number in ("02", "03"):
            for shard in archive.plan(number, preset="smoke", results_dir=root):
                archive.compute(shard, "cpu")
    return root


def _two_draws(ds, shift):
    """``ds`` with a second initialization whose instability is ``shift`` pp higher."""
    other = ds.assign_coords(init_seed=ds.init_seed + 1)
    other["instability"] = other.instability + shift
    out = xr.concat([ds, other], dim="init_seed")
    out.attrs = ds.attrs
    return out


@pytest.mark.slow
def test_beside_shows_chapter_02s_archived_curve_and_reads_it_against_the_paper(smoke_curve_shards):
    table, quoted = archive.beside("02", results_dir=smoke_curve_shards, preset="smoke")
    archived = archive.load("02", preset="smoke", results_dir=smoke_curve_shards)
    assert list(table.index) == ["0", "100"] and quoted["archive_grid"] == "0, 100"
    k0 = float(archived.instability.sel(split="test", rewind_step=0).mean())
    assert quoted["archive_k0"] == f"{k0:.2f} pp (one pair)"
    # LeNet: the paper finds it stable from k = 0; the verdict follows the archived numbers
    expected = "Supported" if tables.stable_from(archived) == 0 else "Contradicted"
    assert quoted["archive_verdict"].startswith(expected) and "from k = 0" in quoted["archive_verdict"]
    setting = archive.reported.setting("lenet_300_100")
    unstable = archived.copy()
    unstable["instability"] = unstable.instability + 5.0 * (unstable.rewind_step == 0)
    _, found = archive._curve_rows(unstable, None, setting, "smoke")
    assert found["archive_stable_from"] == "k = 100" and found["archive_verdict"].startswith("Contradicted")


@pytest.mark.slow
def test_beside_reads_chapter_03s_difference_against_the_spread(smoke_curve_shards):
    table, quoted = archive.beside("03", results_dir=smoke_curve_shards, preset="smoke")
    assert list(table.index) == ["0", "100"]
    assert quoted["archive_verdict"].startswith("Not testable")  # one draw per k: no spread
    archived = archive.load("03", preset="smoke", results_dir=smoke_curve_shards)
    setting = archive.reported.setting("lenet_300_100")
    test = archived.instability.sel(split="test")
    gap = float(abs(test.sel(schedule=instability.SCHEDULES[False]) - test.sel(schedule=instability.SCHEDULES[True])).max())
    # two draws 1 pp apart have a std of 0.71 pp: the verdict is "within" iff the gap is
    _, found = archive._schedule_rows(_two_draws(archived, 1.0), None, setting, "smoke")
    assert found["archive_largest_difference"] == f"{gap:.2f} pp" and found["archive_spread"] == "0.71 pp"
    assert found["archive_verdict"].startswith("Supported" if gap <= 0.7071 else "Contradicted")
    _, wide = archive._schedule_rows(_two_draws(archived, 2 * gap + 10), None, setting, "smoke")
    assert wide["archive_verdict"].startswith("Supported")


def test_chapter_01s_verdict_reads_the_mean_and_counts_the_pairs_over_the_bound():
    draws = xr.DataArray([[0.5, 0.9], [1.2, float("nan")]], dims=("init_seed", "pair"))
    assert archive._bound_verdict(draws, 1.0) == (
        "Supported on the mean: 0.87 pp against the paper's bound of less than 1 percentage point; "
        "1 of 3 pairs reach the bound or exceed it.")
    assert archive._bound_verdict(draws + 0.5, 1.0).startswith("Contradicted on the mean: 1.37 pp")
    assert archive._bound_verdict(draws, None).startswith("Not testable")


def test_combine_keeps_a_k_that_lacks_an_initialization_as_nan(tmp_path):
    """A partly computed curve chapter (k = 0 for two initializations, k = 25 for one) combines
    into one result with NaN where a shard is missing, not an error and not a dropped k."""
    import numpy as np

    chapter = archive.CHAPTERS["02"]
    for k, seeds in (("0", (0, 1)), ("25", (0,))):
        for seed in seeds:
            value = float(seed) + int(k)  # each shard's own number, to find it again
            ds = xr.Dataset({"instability": (("rewind_step", "init_seed", "pair", "split"), np.full((1, 1, 2, 2), value))},
                            coords={"rewind_step": [int(k)], "rewind_label": ("rewind_step", [k]),
                                    "init_seed": [seed], "pair": [0, 1], "split": ["train", "test"]})
            ds.attrs.update(results.provenance({"model": "lenet_300_100", "preset": "paper", "rewind_steps": [k],
                                                "init_seeds": [seed]}, "cpu"))
            results.save(ds, archive.Shard(chapter, "lenet_300_100", init_seed=seed, rewind_step=k,
                                           results_dir=str(tmp_path)).path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # xarray's join default is about to change
        combined = archive.load("02", results_dir=tmp_path)
    test = combined.instability.sel(split="test", pair=0)
    assert combined.rewind_label.values.tolist() == ["0", "25"] and combined.init_seed.values.tolist() == [0, 1]
    assert test.sel(rewind_step=0).values.tolist() == [0.0, 1.0]
    assert test.sel(rewind_step=25, init_seed=0).item() == 25.0 and np.isnan(test.sel(rewind_step=25, init_seed=1).item())
    assert combined.attrs["config_hash"] and json.loads(combined.attrs["config"])["init_seeds"] == [0, 1]
