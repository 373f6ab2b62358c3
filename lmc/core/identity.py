"""Identities: one rule for what enters the canonical configuration of a specification.

A specification (a training recipe, a run, the key of a cached path between two runs, an
experiment's configuration) is a frozen dataclass, and ``as_dict`` turns it into the plain
JSON-able dict that ``lmc.core.store`` hashes and results record: every field, nested
dataclasses likewise, tuples as lists, **except a field at its default** (open_lth's rule,
``foundations/hparams.py`` and ``foundations/desc.py``), so that adding a field with a default
keeps every stored run and result valid. A field declared with ``always`` enters even at its
default: the fields that stored identities were first hashed with (every run stores
``Hparams.train_subset``, null or not), and fields whose absence would mean something else.
No other code decides which fields enter an identity.
"""

from __future__ import annotations

import dataclasses

_ALWAYS = "always"


def always(default, **field_options):
    """A dataclass field with ``default`` that enters every identity, even at its default."""
    return dataclasses.field(default=default, metadata={"identity": _ALWAYS}, **field_options)


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return as_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def as_dict(spec) -> dict:
    """The identity of the frozen dataclass ``spec``: its fields as a JSON-able dict, recursively,
    leaving out each field at its default unless the field is declared with ``always``."""
    out = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        default = _default(f)
        if f.metadata.get("identity") != _ALWAYS and default is not dataclasses.MISSING and value == default:
            continue
        out[f.name] = _plain(value)
    return out
