"""A Sphinx extension for the book (listed in ``_config.yml``): each page loads each script once.

Jupyter Book 1.0.4 with Sphinx 7.4 puts sphinx-thebe's inline configuration script on
every page twice (once registered with filename None, once with ""), and its
``const THEBE_JS_URL`` declared twice is a JavaScript error on every page (the browser
test, ``tests/test_browser.py``, found it). Dropping repeated scripts fixes it.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    attributes = {k: v for k, v in getattr(script, "attributes", {}).items() if k != "priority"}
    # the same inline script arrives once with filename None and once with "" (Sphinx 7.4)
    return str(getattr(script, "filename", script) or ""), tuple(sorted(attributes.items()))


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Remove every script that a page would load a second time (the first one stays)."""
    if "script_files" in context:
        seen = {}
        for script in context["script_files"]:
            seen.setdefault(_script_key(script), script)
        context["script_files"] = list(seen.values())


def setup(app):
    app.connect("html-page-context", unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
