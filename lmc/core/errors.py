"""User errors: one line that says what is wrong and what to do.

The CLI prints an ``LMCError`` as ``lmc: error: <message>`` and exits with status 2,
without a traceback; notebooks show the same message.
"""


class LMCError(Exception):
    """A mistake in what was asked (input, data, environment), not a bug in lmc."""


class ConfigError(LMCError, ValueError):
    """An unknown name or an out-of-range value in a configuration or parameter."""


class DataError(LMCError):
    """A data set that is missing or whose files do not match the manifest."""


class CacheError(LMCError):
    """A run cache that cannot be used (unwritable, corrupt, or from another version)."""


def choose(kind: str, name: str, valid) -> str:
    """Return ``name`` if it is one of ``valid``; else raise a ConfigError listing them."""
    valid = list(valid)
    if name not in valid:
        raise ConfigError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(map(str, valid))}")
    return name
