"""lmc: a literate, executable reproduction of "Linear Mode Connectivity and the
Lottery Ticket Hypothesis" (Frankle, Dziugaite, Roy & Carbin, ICML 2020).

The package is layered; a module imports only from its own layer and the ones below
(``tests/test_layers.py`` checks it)::

    lmc.cli, lmc.sweep   the command line and sweeps
    lmc.report           figures, status, the book
    lmc.studies          beyond the paper: early phase, sanity checks, correlation, our questions
    lmc.experiments      the paper's experiments: instability, sparse, imp, tables, appendices
    lmc.paper            the paper as data (reported numbers, Table 1) and presets
    lmc.core             data, models, training runs, pruning, interpolation, cache, results

Modules are named after the paper's concepts.
"""

__version__ = "0.1.0"
