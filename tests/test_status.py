"""The status table of the introduction and the re-run box of every chapter, without a build."""

import json
import shutil

import nbformat
import pytest

from lmc.core.errors import ConfigError
from lmc.report import book, status


@pytest.mark.parametrize("line, items", [
    ("Section 3, Figure 2", ["Figure 2"]),
    ("Section 3, Figure 3 and Appendix F", ["Figure 3", "Appendix F"]),
    ("Section 4.2-4.3, Table 2 and Figure 5", ["Table 2", "Figure 5"]),
    ("Section 4.3, Figures 6–7", ["Figure 6", "Figure 7"]),
    ("Appendices B–D", ["Appendix B", "Appendix C", "Appendix D"]),
    ("Appendix C, Figures 10-12", ["Appendix C"]),
    ("Figure 26", ["Appendix H"]),
    ("beyond the paper", []),
])
def test_claims_reads_the_paper_line(line, items):
    assert status.claims(line) == items


def test_result_files_leave_out_results_kept_from_earlier_configurations(tmp_path):
    folder = tmp_path / "quick" / "02_instability_during_training"
    folder.mkdir(parents=True)
    for name in ("lenet_300_100_standard.nc", "lenet_300_100_standard.0a1b2c3d.nc", "x.nc"):
        (folder / name).write_bytes(b"")
    found = status.result_files(tmp_path, "quick", "02_instability_during_training")
    assert [p.name for p in found] == ["lenet_300_100_standard.nc", "x.nc"]


def test_every_chapter_of_the_paper_claims_something():
    # "beyond the paper" claims nothing: the b chapters and the appendix on choosing the stand-in
    chapters = [c for c in book.chapters() if not c.name.startswith(("b", "a_s_"))]
    assert len(chapters) == 11
    for chapter in chapters:
        assert status.claims(status.paper_line(chapter)), f"{chapter.name} has no *Paper: ...* line"


def test_status_finds_archived_results_and_reads_ours(tmp_path):
    chapters = book.chapters()
    assert not any(row["quick"] or row["paper"] or row["ours"] for row in status.status(tmp_path, chapters))
    shutil.copy(book.ROOT / "results" / "quick" / "01_instability_at_init.nc", tmp_path / "x.nc")
    (tmp_path / "quick").mkdir()
    shutil.move(tmp_path / "x.nc", tmp_path / "quick" / "01_instability_at_init.nc")
    rows = {row["item"].name: row for row in status.status(tmp_path, chapters)}
    assert rows["Figure 2"]["quick"] and not rows["Figure 2"]["paper"] and not rows["Figure 3"]["quick"]
    assert rows["Figure 2"]["ours"].startswith("LeNet-300-100") and "pp (`quick`: 3,000 of Table 1's 24,000 " \
        "iterations)" in rows["Figure 2"]["ours"]
    assert rows["Figure 2"]["paper value"] == "LeNet-300-100: < 1 pp (test instability at k = 0)"
    table = status.status_markdown(tmp_path, chapters, {"book/chapters/01_instability_at_init"})
    assert len(table.splitlines()) == 2 + len(status.ITEMS)
    assert "{doc}`01 </book/chapters/01_instability_at_init>`" in table


def test_rerun_box_has_the_commands_times_and_source(tmp_path):
    box = book.rerun_box("02_instability_during_training", "quick", {"pairs": 2}, tmp_path)
    assert "papermill chapters/02_instability_during_training.ipynb" in box and "-p pairs 2" in box
    assert "lmc book --chapters 02 --preset quick --param pairs=2" in box
    assert "lmc run instability --model lenet_300_100 --variant standard --preset quick --rewind 0 100 500 2000 --pairs 2" in box
    seeds = book.rerun_box("01_instability_at_init", "smoke", {"init_seeds": [0, 1]}, tmp_path)
    assert "--preset smoke --rewind 0 --init-seeds 0 1" in seeds
    assert "| `quick` | about 8 min | not measured |" in box
    assert "{download}`02_instability_during_training.ipynb </chapters/02_instability_during_training.ipynb>`" in box
    with pytest.raises(ConfigError, match="preset"):
        book.rerun_box("01_instability_at_init", "huge")


def test_recorded_time_replaces_the_estimate(tmp_path):
    book.record_time(tmp_path, "quick", "01_instability_at_init", 125.0, "cuda")
    times = book.expected_times("01_instability_at_init", "quick", tmp_path)
    assert times["cpu"] == "about 2 min" and times["gpu"].startswith("last `lmc book` here: 2 min (")
    book.record_time(tmp_path, "quick", "01_instability_at_init", 30.0, "cpu")
    assert book.expected_times("01_instability_at_init", "quick", tmp_path)["cpu"].startswith(
        "about 2 min; last `lmc book` here: 30 s (")
    assert json.loads((tmp_path / "quick" / book.TIMINGS).read_text())["01_instability_at_init"]["cuda"]["seconds"] == 125.0


def test_rerun_box_goes_under_the_title_once(tmp_path):
    path = tmp_path / "chapter.ipynb"
    shutil.copy(book.ROOT / "chapters" / "01_instability_at_init.ipynb", path)
    for text in ("first box", "second box"):
        book.add_rerun_box(path, text)
    cells = nbformat.read(str(path), as_version=4).cells
    assert cells[0].source.startswith("# Instability at initialization") and cells[1].source == "second box"
    assert sum("rerun-box" in c.metadata.get("tags", []) for c in cells) == 1


def test_chapter_outline_lists_parameters_and_figure_functions():
    outline = status.chapter_outline(book.ROOT / "chapters" / "01_instability_at_init.ipynb")
    assert outline["parameters"][0] == "preset" and "results_dir" in outline["parameters"]
    assert outline["figures"] == ["lmc.report.plots.interpolation"]
    assert "lmc.experiments.instability.instability_analysis" in outline["computes"]


def test_status_compares_like_with_like_and_gives_the_stand_in_rows_of_its_own(tmp_path):
    """Table 2's "ours" is our LeNet-300-100 beside the paper's LeNet-300-100, whichever file sorts
    first; the stand-in gets a row of its own with no paper value."""
    source = book.ROOT / "results" / "quick" / "04_lottery_tickets_at_init"
    folder = tmp_path / "quick" / "04_lottery_tickets_at_init"
    folder.mkdir(parents=True)
    for name in ("fmnist_resnet_20_4_standard.nc", "lenet_300_100_standard.nc"):
        shutil.copy(source / name, folder / name)
    rows = [r for r in status.status(tmp_path, book.chapters()) if r["item"].name == "Table 2"]
    lenet, stand_in = rows
    assert not lenet["stand_in"] and lenet["ours"].startswith("LeNet-300-100: IMP")
    assert lenet["paper value"].startswith("LeNet-300-100: IMP 98.2%")
    assert stand_in["stand_in"] and stand_in["paper value"] == "none (not in the paper)"
    assert stand_in["ours"].startswith("stand-in: IMP") and "its own recipe" in stand_in["ours"]


def _chapter_01(tmp_path, instability: float):
    import numpy as np
    import xarray as xr

    from lmc.core import results
    from lmc.paper import reported

    hp = reported.setting("lenet_300_100").hparams.replace(training_steps="3000it")
    ds = xr.Dataset({"instability": (("init_seed", "pair", "split"), np.full((3, 2, 2), instability))},
                    coords={"init_seed": [0, 1, 2], "pair": [0, 1], "split": ["train", "test"]})
    ds.instability.loc[{"init_seed": 0}] = instability + 0.1  # a spread
    ds.attrs.update(results.provenance({"model": "lenet_300_100", "variant": "standard", "preset": "quick",
                                        "hparams": hp.as_dict()}, "cpu"))
    (tmp_path / "quick").mkdir(exist_ok=True)
    results.save(ds, tmp_path / "quick" / "01_instability_at_init.nc")


@pytest.mark.parametrize("instability, verdict", [(0.4, "supported"), (1.6, "contradicted")])
def test_each_claim_gets_its_verdict_from_the_results(tmp_path, instability, verdict):
    rows = {r["claim"].chapter + r["claim"].where: r for r in status.claim_rows(tmp_path)}
    # with nothing computed: the paper's larger networks are not testable here, ours not computed
    # yet, and the stand-in search (nothing under tmp_path/standin_search) not testable yet
    assert {r["verdict"] for r in rows.values()} == {"not testable here", "not computed yet", "not testable yet"}
    search = next(r for r in rows.values() if r["claim"].chapter == "a_s_choosing_the_stand_in")
    assert search["verdict"] == "not testable yet" and search["evidence"].startswith("Nothing is computed yet.")
    _chapter_01(tmp_path, instability)
    row = next(r for r in status.claim_rows(tmp_path) if r["claim"].where == "§3, Figure 2")
    assert row["verdict"] == verdict
    assert f"{instability + 0.1 / 3:.2f} ± " in row["evidence"]  # mean ± std over the 6 pairs
    assert "3,000 of Table 1's 24,000 iterations" in row["evidence"]
    larger = [r for r in status.claim_rows(tmp_path) if r["claim"].judge is None]
    assert larger and all(r["verdict"] == "not testable here" for r in larger)
    assert f"| **{verdict}** |" in status.claims_markdown(tmp_path)


def test_a_partly_archived_chapter_says_how_much_of_it_the_value_rests_on(tmp_path):
    import shutil
    from pathlib import Path

    from lmc.report import status as status_module

    root = Path(__file__).resolve().parents[1]
    shard = root / "results/paper/03_training_time_or_schedule/lenet_300_100_standard/k0_init2.nc"
    target = tmp_path / "paper/03_training_time_or_schedule/lenet_300_100_standard"
    target.mkdir(parents=True)
    shutil.copy(shard, target)
    rows = status_module.status(tmp_path, [root / "chapters/03_training_time_or_schedule.ipynb"])
    lenet = next(r for r in rows if r["item"].name == "Figure 4" and not r["stand_in"])
    assert lenet["paper"] and "(`paper`:" in lenet["ours"]
    assert lenet["ours"].endswith("; 1 of 24 shards so far)")  # 3 initializations × 8 rewind steps
