"""lmc: a literate, executable reproduction of "Linear Mode Connectivity and the
Lottery Ticket Hypothesis" (Frankle, Dziugaite, Roy & Carbin, ICML 2020).

Modules are named after the paper's concepts: ``data``, ``models``, ``train``,
``interpolate``, ``store``, ``results``, ``experiments``, ``paper`` (Table 1 as
data), ``presets``, ``plots``, ``book`` and ``cli``.
"""

__version__ = "0.1.0"
