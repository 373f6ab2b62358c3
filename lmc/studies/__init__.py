"""Studies beyond the paper, built from its experiments: the early phase of training
(``early_phase``), sanity checks of the tickets (``sanity``), weight correlation
(``correlation``), our own questions (``questions``) and the search for the CPU stand-in
network (``standin_search``).

Imports ``lmc.experiments``, ``lmc.paper`` and ``lmc.core``.
"""
