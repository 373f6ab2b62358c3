"""What a reader sees: figures (``plots``), the status of every chapter and result
(``status``), the book build (``book``) and its Sphinx extension (``sphinx_ext``).

May import every layer below it; only ``lmc.cli`` and ``lmc.sweep`` stand above.
"""
