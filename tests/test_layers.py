"""The package's layers (pyproject.toml, [tool.importlinter]): a module imports only modules of
its own layer and of the layers below it, cli > sweep > report > studies > experiments > paper >
core. An upward import, at the top of a module or inside a function, fails here."""

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_no_module_imports_a_layer_above_its_own(capsys):
    if importlib.util.find_spec("importlinter") is None:
        message = "the layer check needs import-linter (pip install -e '.[test]')"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from importlinter import configuration
    from importlinter.application.use_cases import lint_imports

    configuration.configure()
    kept = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_logo=True, cache_dir=None)
    assert kept, "an import runs upward through lmc's layers:\n" + capsys.readouterr().out
