"""The package's layers (pyproject.toml, [tool.importlinter]): a module imports only modules of
its own layer and of the layers below it, cli > sweep > report > studies > experiments > paper >
core; and no two modules import each other (dependencies run one way). An upward import or a
cycle, at the top of a module or inside a function, fails here."""

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def import_linter():
    if importlib.util.find_spec("importlinter") is None:
        message = "the layer check needs import-linter (pip install -e '.[test]')"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from importlinter import configuration

    configuration.configure()


def test_no_module_imports_a_layer_above_its_own(import_linter, capsys):
    from importlinter.application.use_cases import lint_imports

    kept = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_logo=True, cache_dir=None)
    assert kept, "an import runs upward through lmc's layers:\n" + capsys.readouterr().out


def test_no_two_modules_import_each_other(import_linter):
    import grimp

    graph = grimp.build_graph("lmc", cache_dir=None)
    modules = sorted(m for m in graph.modules if m != "lmc")
    cycles = [(a, b) for a in modules for b in modules
              if a < b and not b.startswith(a + ".") and graph.chain_exists(importer=a, imported=b)
              and graph.chain_exists(importer=b, imported=a)]
    assert not cycles, f"import cycles: {cycles}"
