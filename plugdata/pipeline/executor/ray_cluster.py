"""Joining Ray: `connect()` joins the cluster named by `--ray-address` or `$RAY_ADDRESS` (`auto`:
the one this machine belongs to) and otherwise starts a local Ray with one CPU per core of this
machine. Ray is imported only here and only when called, and a missing `[ray]` extra is one line
with the install command.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from plugdata.errors import PlugdataError, require
from plugdata.pipeline.executor.local import default_workers


def connect(address: str | None = None) -> None:
    """Join a Ray cluster, or start a local Ray; a no-op when this process is joined already
    (the first caller's choice holds: a test's or notebook's own `ray.init` included)."""
    require("ray", "ray")
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = default_workers()
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"--ray-address {address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlugdataError(f"{where}: cannot start or join Ray ({first})") from None


def _check_reachable(address: str) -> None:
    """A `host:port` where nothing listens: one line now, where Ray would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # `auto`, `local`, `ray://...`: Ray itself answers those at once
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PlugdataError(f"--ray-address {address}: no Ray cluster there ({reason})") from None


def cluster_resources() -> dict[str, float]:
    """CPUs and GPUs of the cluster joined by `connect()`."""
    import ray

    return ray.cluster_resources()
