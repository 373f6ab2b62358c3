"""What a chapter page shows besides its cells: the parameters once, with the values the
page was built with, and its result files for download (fast; the built book's pages are
checked in tests/test_book.py)."""

import nbformat
import pytest

from lmc.report import book


def _notebook(parameters: str, injected: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(preset)")]
    return nb


def test_injected_values_replace_the_defaults_and_keep_the_comments():
    nb = _notebook('preset = "quick"   # the protocol\nps = [0.1,\n      0.2]  # two lines\nn = None  # kept',
                   '# Parameters\npreset = "smoke"\nps = [0.5, 0.6]\nresults_dir = "/tmp/r"\n')
    book.built_parameters(nb)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == [
        'preset = "smoke"   # the protocol\nps = [0.5, 0.6]  # two lines\nn = None  # kept\nresults_dir = "/tmp/r"',
        "print(preset)"]


def test_a_multiline_injected_value_is_kept_whole():
    nb = _notebook('sweep = None  # the sweep\nx = 1', 'sweep = [\n    ["lr", 10.0],\n]\n')
    book.built_parameters(nb)
    assert nb.cells[1].source == 'sweep = [\n    ["lr", 10.0],\n]  # the sweep\nx = 1'


def test_a_notebook_without_injected_parameters_is_left_alone():
    nb = _notebook('preset = "quick"', "")
    nb.cells[2].metadata["tags"] = []
    before = [c.source for c in nb.cells]
    book.built_parameters(nb)
    assert [c.source for c in nb.cells] == before


@pytest.fixture
def results(tmp_path):
    for name in ("quick/01_instability_at_init.nc", "quick/04_lottery_tickets_at_init/lenet_300_100_standard.nc",
                 "quick/04_lottery_tickets_at_init/fmnist_resnet_20_4_standard.nc",
                 "paper/04_lottery_tickets_at_init/lenet_300_100_standard/init0.nc",
                 "quick/04_lottery_tickets_at_init/lenet_300_100_standard.0123abcd.nc",  # kept: not offered
                 "quick/04_lottery_tickets_at_init_other.nc", "standin_search/r20w4-a.nc", "quick/timings.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    return tmp_path


def test_result_files_are_the_chapters_own_and_its_archive(results, tmp_path):
    assert book.result_files("01_instability_at_init", "quick", results) == ["quick/01_instability_at_init.nc"]
    assert book.result_files("04_lottery_tickets_at_init", "quick", results) == [
        "quick/04_lottery_tickets_at_init/fmnist_resnet_20_4_standard.nc",
        "quick/04_lottery_tickets_at_init/lenet_300_100_standard.nc",
        "paper/04_lottery_tickets_at_init/lenet_300_100_standard/init0.nc"]
    assert book.result_files("04_lottery_tickets_at_init", "paper", results) == [
        "paper/04_lottery_tickets_at_init/lenet_300_100_standard/init0.nc"]
    assert book.result_files("a_s_choosing_the_stand_in", "quick", results) == ["standin_search/r20w4-a.nc"]
    assert book.result_files("02_instability_during_training", "quick", results) == []
    copied = book.copy_results("04_lottery_tickets_at_init", "quick", results, tmp_path / "out")
    assert [(tmp_path / "out" / "results" / name).read_bytes() for name in copied] == \
        [(results / name).read_bytes() for name in copied]
    box = book.rerun_box("04_lottery_tickets_at_init", "quick", downloads=copied)
    assert "{download}`paper/04_lottery_tickets_at_init/lenet_300_100_standard/init0.nc " \
           "<results/paper/04_lottery_tickets_at_init/lenet_300_100_standard/init0.nc>`" in box
