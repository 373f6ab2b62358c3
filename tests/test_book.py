"""The book builds with warnings as errors, and chapter 01's page shows its figure."""

import re
import shutil

import pytest

from lmc import book

pytestmark = pytest.mark.slow


def test_book_builds_strict_and_chapter_01_shows_its_figure(mnist, tmp_path):
    root = tmp_path / "src"  # a copy, so a book the user built in the checkout is never replaced
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(book.ROOT / name, root / name)
    shutil.copytree(book.ROOT / "chapters", root / "chapters")
    shutil.copytree(book.ROOT / "book", root / "book",
                    ignore=shutil.ignore_patterns("_build", "chapters"))
    html = book.build(preset="smoke", results_dir=tmp_path / "results", root=root, strict=True)
    page = (html / "book" / "chapters" / "01_instability_at_init.html").read_text()
    sources = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert sources, "chapter 01 has no figure"
    figure = (html / "book" / "chapters" / sources[0]).resolve()
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    assert "What we see" in page and "{glue" not in page
    assert (html / "index.html").exists() and (html / "book" / "intro.html").exists()
