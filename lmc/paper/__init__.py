"""The paper as data: what Frankle et al. (2020) specify and report (``reported``: Table 1's
recipes, Table 2, the appendices' numbers) and how large our runs of it are (``presets``).

Imports only ``lmc.core``.
"""
