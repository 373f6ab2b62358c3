"""The engine, below every experiment: data, networks, pruning masks, training runs, the run
cache, interpolation and distances, results on disk.

Nothing here knows the paper's tables, an experiment or a study; it imports only itself.
"""
