"""The book builds with warnings as errors, and its pages hold what readers come for:
chapter 01's figure, a re-run box on every chapter, the generated status table, the API
reference and the bibliography. The build is shared with tests/test_browser.py."""

import json
import re

import pytest

from lmc.report import book

pytestmark = pytest.mark.slow


def test_book_builds_strict_and_chapter_01_shows_its_figure(smoke_book):
    html = smoke_book["html"]
    page = (html / "book" / "chapters" / "01_instability_at_init.html").read_text()
    sources = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert sources, "chapter 01 has no figure"
    figure = (html / "book" / "chapters" / sources[0]).resolve()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert "What we see" in page and "{glue" not in page
    assert (html / "index.html").exists() and (html / "book" / "intro.html").exists()


def test_every_chapter_opens_with_its_rerun_box(smoke_book):
    for chapter in book.chapters(smoke_book["root"]):
        page = (smoke_book["html"] / "book" / "chapters" / f"{chapter.stem}.html").read_text()
        article = page[page.find('class="headerlink"'):]  # from the chapter's title (its h1) on
        box = article.find("Re-run this chapter")
        assert box != -1, f"{chapter.stem} has no re-run box"
        assert box < article.find("<h2"), f"{chapter.stem}: the box is not under the title"
        assert f"papermill chapters/{chapter.stem}.ipynb" in page
        assert f"lmc book --chapters {chapter.stem[:2]} --preset smoke" in page
        link = re.search(rf'href="([^"]*_downloads/[^"]*/{chapter.stem}\.ipynb)"', page)
        assert link, f"{chapter.stem}: no link to download its source notebook"
        source = json.loads((smoke_book["html"] / "book" / "chapters" / link.group(1)).resolve().read_text())
        assert not any(c.get("outputs") for c in source["cells"] if c["cell_type"] == "code"), \
            "the download is the executed copy, not the source"
    timings = json.loads((smoke_book["results"] / "smoke" / book.TIMINGS).read_text())
    assert set(timings) == {p.stem for p in book.chapters(smoke_book["root"])}


def test_pages_show_the_built_parameters_once_and_offer_their_results(smoke_book):
    import html as html_lib

    import xarray as xr

    page = (smoke_book["html"] / "book" / "chapters" / "01_instability_at_init.html").read_text()
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", page))
    assert "tag_parameters" in page and "tag_injected-parameters" not in page
    assert 'preset = "smoke"' in text and 'preset = "quick"' not in text, "the source default is shown"
    link = re.search(r'href="([^"]*_downloads/[^"]*/01_instability_at_init\.nc)"', page)
    assert link, "chapter 01 offers no result file"
    offered = (smoke_book["html"] / "book" / "chapters" / link.group(1)).resolve()
    with xr.open_dataset(offered) as got, xr.open_dataset(smoke_book["results"] / "smoke" / "01_instability_at_init.nc") as want:
        assert got.identical(want)
    css = (smoke_book["html"] / "_static" / "lmc.css").read_text()
    assert "pre-wrap" in css and "lmc.css" in page, "code cells do not wrap"


def test_intro_shows_the_generated_status_table_and_diagram(smoke_book):
    page = (smoke_book["html"] / "book" / "intro.html").read_text()
    for item in ("Figure 2", "Figure 8", "Table 2", "Appendix H"):
        assert f"{item} (" in page, f"status table has no row for {item}"
    assert "instability_diagram.png" in page
    assert (smoke_book["html"] / "_images" / "instability_diagram.png").stat().st_size > 10_000


def test_the_api_reference_documents_every_module_by_layer():
    import pkgutil

    import lmc

    modules = {m.name for m in pkgutil.walk_packages(lmc.__path__, "lmc.")}
    documented = re.findall(r"^\.\. automodule:: ([\w.]+)$", (book.ROOT / "book" / "api.md").read_text(), re.M)
    assert sorted(modules - set(documented)) == [], "book/api.md leaves out these modules"
    layers = [m for m in documented if m.count(".") == 1 and m in {"lmc.core", "lmc.paper", "lmc.experiments",
                                                                     "lmc.studies", "lmc.report"}]
    assert layers == ["lmc.core", "lmc.paper", "lmc.experiments", "lmc.studies", "lmc.report"]  # bottom up
    for module in documented:  # each under its layer's heading
        layer = ".".join(module.split(".")[:2])
        assert layer not in layers or documented.index(layer) <= documented.index(module)


def test_api_reference_and_bibliography(smoke_book):
    api = (smoke_book["html"] / "book" / "api.html").read_text()
    for name in ("lmc.experiments.instability.instability_analysis", "lmc.core.interpolate", "lmc.report.book.rerun_box",
                 "lmc.report.status.claims"):
        assert f'id="{name}' in api, f"API reference lacks {name}"
    references = (smoke_book["html"] / "book" / "references.html").read_text().lower()  # the style lowercases
    for title in ("Linear Mode Connectivity", "The Lottery Ticket Hypothesis", "OpenLTH",
                  "The Early Phase", "Sanity Checks", "Weight Correlation", "Fashion-MNIST",
                  "Gradient-Based Learning", "Tiny Images", "ImageNet Large Scale"):
        assert title.lower() in references, f"bibliography lacks {title}"


def _chapter(path, code):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"),
                nbformat.v4.new_code_cell('preset = "quick"\nresults_dir = "results"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)


def test_chapters_run_two_at_a_time_and_a_failure_spares_the_others(tmp_path):
    (tmp_path / "chapters").mkdir()
    # each child gets half of the cores as torch threads; the two overlap in time
    _chapter(tmp_path / "chapters" / "01_good.ipynb",
             "import os, time, pathlib\n"
             "threads = os.environ['OMP_NUM_THREADS']\n"
             "pathlib.Path(results_dir, 'good').mkdir(parents=True)\n"
             "time.sleep(3)")
    _chapter(tmp_path / "chapters" / "02_bad.ipynb", "import pathlib\npathlib.Path(results_dir, 'bad').mkdir(parents=True)\n"
                                                     "raise ValueError('boom')")
    _chapter(tmp_path / "chapters" / "03_after.ipynb", "import pathlib\npathlib.Path(results_dir, 'after').mkdir(parents=True)")
    with pytest.raises(book.LMCError, match=r"^1 chapter\(s\) failed: 02_bad\.ipynb \(exit 1; its output is .*02_bad\.log"):
        book.build(preset="smoke", results_dir=tmp_path / "results", root=tmp_path, jobs=2)
    executed = tmp_path / "book" / "chapters"
    assert "boom" in (executed / "02_bad.log").read_text()
    assert {p.name for p in (tmp_path / "results").iterdir()} >= {"good", "bad", "after"}
    timings = json.loads((tmp_path / "results" / "smoke" / book.TIMINGS).read_text())
    assert set(timings) == {"01_good", "03_after"} and timings["01_good"]["cpu"]["jobs"] == 2
    assert timings["01_good"]["cpu"]["seconds"] >= 3
    good = json.loads((executed / "01_good.ipynb").read_text())
    assert "Re-run this chapter" in json.dumps(good["cells"][:3])


def test_jobs_must_be_a_positive_integer(tmp_path):
    with pytest.raises(book.ConfigError, match="jobs must be an integer ≥ 1"):
        book.build(preset="smoke", root=tmp_path, jobs=0)
