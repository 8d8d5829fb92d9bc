"""Arguments that name a local path or a Hub repo (`--dataset`, `--model`, `--questions`):
settling which one is meant, and failing at once, in one line, when it cannot be there.

Without this check a mistyped local path is tried on the Hub, with retries, and ends in a long
traceback; an unreachable Hub or offline mode without a cached copy ends the same way. The
libraries themselves (datasets, transformers) are imported only by the caller, afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from plugdata.errors import PlugdataError
from plugdata.remote.retrying import connection_failure, is_transport_error

RepoType = Literal["dataset", "model"]
# File names, never Hub ids: a Hub id such as Qwen/Qwen2.5-0.5B may hold dots, but no suffix
# of these.
LOCAL_SUFFIXES = (
    ".jsonl",
    ".json",
    ".csv",
    ".parquet",
    ".arrow",
    ".gguf",
    ".safetensors",
    ".bin",
    ".pt",
    ".yaml",
    ".yml",
)
PROBE_TIMEOUT_S = 10.0
# What the command-line help calls a local one of each.
_NOUN = {"dataset": "folder", "model": "directory"}
_OFFLINE_VARIABLES = {
    "dataset": ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"),
    "model": ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"),
}


class LocationError(PlugdataError):
    """A dataset or model argument that names nothing this run can load."""


def local_reason(value: str) -> str | None:
    """Why `value` is read as a local path rather than a Hub id (None: it is a Hub id).

    >>> local_reason("./build/plug-demo"), local_reason("org/name")
    ('', None)
    >>> local_reason("a/b/c")
    "a Hub id has one '/'"
    """
    if value.startswith((".", "/", "~")):
        return ""
    first = value.split("/")[0]
    if "/" in value and Path(first).exists():
        return f"{first!r} exists here"
    if value.count("/") > 1:
        return "a Hub id has one '/'"
    if value.lower().endswith(LOCAL_SUFFIXES):
        return f"a Hub id does not end in {Path(value).suffix}"
    return None


def check_dataset(value: str, flag: str = "--dataset", *, files: bool = False) -> None:
    """Fail now, in one line, unless `value` is an existing local folder (or, with `files`, a
    file) or a Hub dataset this run can load."""
    _check(value, flag, "dataset", files=files)


def is_gguf(model: str) -> bool:
    """Whether a model argument names a GGUF file (llama.cpp's format) rather than a Hub id or
    folder.

    >>> is_gguf("models/SmolLM2-135M-Instruct.Q4_1.gguf"), is_gguf("Qwen/Qwen2.5-0.5B")
    (True, False)
    """
    return model.lower().endswith(".gguf")


def check_model(value: str, flag: str = "--model") -> None:
    """Fail now, in one line, unless `value` is an existing local directory, an existing GGUF
    file (`trainer.common.load_model` dequantises it), or a Hub model this run can load."""
    if is_gguf(value):  # a file, never a directory or a Hub id
        if not Path(value).is_file():
            what = "a directory, not a .gguf file" if Path(value).exists() else "no such file"
            raise LocationError(f"{flag} {value}: {what}")
        return
    _check(value, flag, "model", files=False)


def _check(value: str, flag: str, repo_type: RepoType, *, files: bool) -> None:
    reason = local_reason(value)
    path = Path(value)  # "~" as typed, unexpanded by a shell, reaches the libraries unexpanded
    if reason is not None or path.exists():
        _check_local(value, flag, path, _NOUN[repo_type], reason, files=files)
    elif _offline(repo_type):
        _check_cached(value, flag, repo_type)
    else:
        _probe_hub(value, flag, repo_type)


def _check_local(
    value: str, flag: str, path: Path, noun: str, reason: str | None, *, files: bool
) -> None:
    wanted = f"file or {noun}" if files else noun
    if not path.exists():
        because = f" (a local path: {reason})" if reason else ""
        raise LocationError(f"{flag} {value}: no such {wanted}{because}")
    if path.is_file() and not files:
        also = " or a .gguf file" if noun == _NOUN["model"] else ""
        raise LocationError(f"{flag} {value}: a file, not a {noun}{also}")


def _offline(repo_type: RepoType) -> bool:
    # The same truthy values huggingface_hub accepts.
    return any(
        os.environ.get(name, "").upper() in ("1", "ON", "YES", "TRUE")
        for name in _OFFLINE_VARIABLES[repo_type]
    )


def _check_cached(value: str, flag: str, repo_type: RepoType) -> None:
    if not _in_cache(value, repo_type):
        raise LocationError(
            f"{flag} {value}: not a local {_NOUN[repo_type]}, and no copy of the Hub "
            f"{repo_type} is cached; offline mode ({'/'.join(_OFFLINE_VARIABLES[repo_type])}) "
            "forbids downloading it"
        )


def _in_cache(repo_id: str, repo_type: RepoType) -> bool:
    """Whether a copy the libraries can load offline is in the cache: a model in the Hub cache,
    a dataset in the datasets cache (which stores `org___name`, the name in snake case)."""
    from huggingface_hub import constants, try_to_load_from_cache

    if repo_type == "model":
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    root = Path(os.environ.get("HF_DATASETS_CACHE") or Path(constants.HF_HOME) / "datasets")

    # Compared loosely (case, '_' and '-' aside) rather than by re-deriving datasets' snake
    # casing: a false match only leaves the miss for datasets to report, a moment later.
    def key(name: str) -> str:
        return name.lower().replace("_", "").replace("-", "")

    wanted = key(repo_id.replace("/", "___"))
    return root.is_dir() and any(key(entry.name) == wanted for entry in root.iterdir())


def _probe_hub(value: str, flag: str, repo_type: RepoType) -> None:
    """One request, no retries: does the Hub answer, and does it hold this repo?"""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    try:
        HfApi().repo_info(value, repo_type=repo_type, timeout=PROBE_TIMEOUT_S)
    except HFValidationError:
        raise LocationError(
            f"{flag} {value}: no such local {_NOUN[repo_type]}, and not a Hub id (ORG/NAME)"
        ) from None
    except GatedRepoError:
        raise LocationError(
            f"{flag} {value}: a gated Hub {repo_type}; accept its terms on the Hub and log in "
            "with `hf auth login` (or set HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise LocationError(
            f"{flag} {value}: no such local {_NOUN[repo_type]} or Hub {repo_type} "
            "(a private one needs `hf auth login` or HF_TOKEN)"
        ) from None
    except OfflineModeIsEnabled:  # offline set before huggingface_hub was imported
        _check_cached(value, flag, repo_type)
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "an error"
        raise LocationError(
            f"{flag} {value}: the Hub at {constants.ENDPOINT} answered {status}; try again later, "
            "or set HF_HUB_OFFLINE=1 to use the local cache"
        ) from None
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        failure = connection_failure(exc)
        cause = failure.reason if failure else type(exc).__name__
        raise LocationError(
            f"{flag} {value}: cannot reach the Hub at {constants.ENDPOINT} ({cause}); set "
            "HF_HUB_OFFLINE=1 to use the local cache"
        ) from None
