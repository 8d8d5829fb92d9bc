"""Settings read from the environment when they are used (never at import): a duration given in
seconds, refused in one line when it is not one."""

from __future__ import annotations

import os

from plugdata.errors import PlugdataError


def seconds_from_env(name: str, default: float) -> float:
    """A duration from environment variable `name`, else `default`; one line when it is not a
    number of seconds."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # negative, or nan
        raise PlugdataError(f"${name}={value!r}: give a number of seconds")
    return seconds
