"""Shared fixtures: real MNIST from LMC_DATA_DIR, and a throwaway run cache per test session."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _mnist_available() -> bool:
    from lmc.core import data

    try:
        data.verify("mnist")
        return True
    except Exception:
        return False


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own run cache, so no test reads or writes the user's."""
    monkeypatch.setenv("LMC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, verified against the manifest (CI sets LMC_DATA_DIR to the shared copy)."""
    if not _mnist_available():
        if os.environ.get("CI"):
            pytest.fail("MNIST not found: set LMC_DATA_DIR to a folder holding MNIST/raw")
        pytest.skip("MNIST not found; set LMC_DATA_DIR or run `lmc data fetch mnist`")
    from lmc.core import data

    return data.load("mnist", "cpu", 3000, 1000)


@pytest.fixture
def small_hparams():
    """LeNet with the paper's optimizer on a 3000-example subset, 60 steps."""
    from lmc.core.hparams import Hparams

    return Hparams(training_steps="60it", train_subset=3000)


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory):
    """One run cache for every smoke execution of the chapters in a session (the chapter tests
    and the book build): chapters share runs as they do for a reader, so each is trained once."""
    return tmp_path_factory.mktemp("smoke-cache")


@pytest.fixture(scope="session")
def smoke_book(mnist, tmp_path_factory, smoke_cache):
    """The book built once per session from `smoke` results, with warnings as errors, in a
    copy of the sources (so a book built in the checkout is never replaced) and with the
    session's smoke cache (``smoke_cache``); returns the source copy (``root``) and its HTML folder (``html``)."""
    import shutil

    from lmc.report import book

    base = tmp_path_factory.mktemp("book")
    root = base / "src"
    root.mkdir()
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(book.ROOT / name, root / name)
    shutil.copytree(book.ROOT / "chapters", root / "chapters")
    shutil.copytree(book.ROOT / "book", root / "book",
                    ignore=shutil.ignore_patterns("_build", "chapters", "_generated"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMC_CACHE_DIR", str(smoke_cache))
        html = book.build(preset="smoke", results_dir=base / "results", root=root, strict=True, jobs=2)
    return {"root": root, "html": html, "results": base / "results"}
