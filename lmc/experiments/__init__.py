"""The paper's experiments: instability analysis of dense networks (``instability``) and of
sparse subnetworks (``sparse``, with IMP and its baselines from ``imp``), the tables and
verdicts computed from their results (``tables``), the appendices (``appendices``), what each
appendix chapter plans, computes and quotes (``chapters``) and the paper-protocol archive
computed in shards (``archive``).

Imports ``lmc.paper`` and ``lmc.core``.
"""
