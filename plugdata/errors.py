"""The one error family: everything a user can fix raises a subclass of PlugdataError.

The CLI turns these (and only these) into a one-line message and exit code 1.
"""

from __future__ import annotations


class PlugdataError(Exception):
    """A problem the user can fix: bad input, bad recipe, missing extra."""


class RecipeError(PlugdataError):
    """A recipe file that does not validate; the message names file and key path."""


class SourceError(PlugdataError):
    """A corpus that cannot be read; the message names file, line and column."""


class UnknownLanguageError(PlugdataError):
    """A language code missing from the language table."""


class ConfigurationError(PlugdataError):
    """A backend that cannot work as configured (key, URL, model, host): the run stops before
    it costs anything, and no row is quarantined for it."""


class MissingExtraError(PlugdataError):
    """A feature needs an optional dependency that is not installed."""


def require(module: str, extra: str) -> None:
    """Fail early with the exact install command when an optional module is absent."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(f"this feature needs {module!r}: pip install 'plugdata[{extra}]'")
