"""Keeping secrets and local paths out of everything plugdata writes, pushes or prints.

One place decides what a secret looks like: credentials inside URLs, keys in query strings,
well-known token shapes, and the values of the environment variables that hold keys (those a
backend reads through `secret_from_env`, and any variable whose name says key, token, secret or
password). `scrub` removes them from a text, `scrub_obj` from a manifest-like structure.
`public_path` turns a local path into something fit to publish: never absolute.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

MASK = "***"
# Shorter values are too likely to occur in ordinary text to be replaced wherever they appear.
_MIN_SECRET = 8
_SECRET_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.I)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]+)@")
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|apikey|key|access[_-]?token|token|auth|authorization|"
    r"password|passwd|secret|client[_-]?secret|signature|sig|subscription[_-]?key)=)"
    r"(?P<value>[^&#\s'\"]+)",
    re.I,
)
_TOKEN_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{6,}|sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|"
    r"xox[abpr]-[A-Za-z0-9-]{10,})"
    r"|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,}"
)
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `scrub` removes it wherever it turns up."""
    if value and len(value) >= _MIN_SECRET:
        _registered.add(value)


def secret_from_env(name: str) -> str | None:
    """The value of environment variable `name`, registered as a secret; None when unset."""
    value = os.environ.get(name) or None
    register_secret(value)
    return value


def _env_secrets() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_SECRET
    ]


def scrub(text: str) -> str:
    """`text` without credentials.

    >>> scrub("http://user:sk-abcdef123456@host:8000/v1?api_key=zzz&lang=it")
    'http://***@host:8000/v1?api_key=***&lang=it'
    >>> scrub("token hf_abcdefghijkl refused")
    'token *** refused'
    """
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", text)
    text = _TOKEN_SHAPES.sub(MASK, text)
    # Longest first, so that a secret containing another is removed whole.
    for value in sorted(_registered.union(_env_secrets()), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def scrub_obj(obj: Any) -> Any:
    """`obj` (dicts, lists, strings, scalars) with every string scrubbed; keys included."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, dict):
        return {scrub_obj(k): scrub_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub_obj(v) for v in obj]
    return obj


def looks_like_local_path(value: str) -> bool:
    return value.startswith(("/", "~", "./", "../")) or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def public_path(value: str | os.PathLike, base: Path | None = None) -> str:
    """A path fit to publish: relative to `base` when inside it, the bare file name when it is
    absolute and outside; relative paths stay as they were given.

    >>> public_path("/home/alice/data/zh.jsonl", Path("/home/alice"))
    'data/zh.jsonl'
    >>> public_path("/home/alice/data/zh.jsonl", Path("/srv/recipes"))
    'zh.jsonl'
    >>> public_path("corpora/zh.jsonl")
    'corpora/zh.jsonl'
    """
    text = os.fspath(value)
    if text.startswith("~"):
        text = os.path.expanduser(text)
    path = Path(text)
    if not path.is_absolute():
        return path.as_posix()
    if base is not None:
        try:
            return path.resolve().relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            pass
    return path.name
