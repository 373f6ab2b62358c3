"""The status table of the introduction and the re-run box of every chapter, without a build."""

import json
import shutil

import nbformat
import pytest

from lmc import book, status
from lmc.errors import ConfigError


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
    chapters = [c for c in book.chapters() if not c.name.startswith("b")]  # "beyond the paper" claims nothing
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
    assert rows["Figure 2"]["ours"].startswith("LeNet-300-100") and rows["Figure 2"]["ours"].endswith("pp (`quick`)")
    assert rows["Figure 2"]["paper value"] == "LeNet-300-100: < 1 pp"
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
    assert outline["figures"] == ["lmc.plots.interpolation"]
    assert "lmc.experiments.instability_analysis" in outline["computes"]
