"""Joining Ray: `connect()` joins the cluster named by `--ray-address` or `$RAY_ADDRESS` (`auto`:
the one this machine belongs to) and otherwise starts a local Ray with one CPU per core of this
machine. Ray is imported only here and only when called, and a missing `[ray]` extra is one line
with the install command.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any

from plugdata.core import leftovers
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
        quiet_token_notice()
    if not address:  # the local Rays of drivers that were killed go before one more starts
        leftovers.sweep(Path(tempfile.gettempdir()), *LOCAL_RAY, reap=end_ray_session)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"--ray-address {address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlugdataError(f"{where}: cannot start or join Ray ({first})") from None
    if not address:
        _own_local_ray()


# A local Ray that this process started: its session's name, in a file this process holds (see
# `plugdata.core.leftovers`). Ray ends its processes when the driver exits, but not all of them
# (its agents) when the driver is killed; the next driver to start a local Ray ends those.
LOCAL_RAY = ("plugdata-ray-", ".session")
_OWNED: list[int] = []  # the descriptor that holds the file, for this process's life


def _own_local_ray() -> None:
    from ray._private import worker  # the session of the Ray this process started

    node = getattr(worker, "_global_node", None)
    if node is None or not getattr(node, "head", False):
        return  # joined a Ray started by someone else (`ray start`): not ours to end
    session = Path(node.get_session_dir_path()).name
    if not session.startswith("session_"):
        return
    path, fd = leftovers.create(Path(tempfile.gettempdir()), *LOCAL_RAY, reap=end_ray_session)
    os.write(fd, session.encode())
    _OWNED.append(fd)
    atexit.register(path.unlink, missing_ok=True)


def end_ray_session(record: Path) -> None:
    """Kill the processes of the Ray session a dead driver's `record` names: those whose
    command line or open files (each writes its log in the session's folder) name the session.
    Ray's agents rename themselves (`ray::DashboardAgent`): their command line does not."""
    try:
        session = record.read_text("utf-8").strip()
    except OSError:
        return
    if not session.startswith("session_"):
        return
    needle = session.encode()
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        if _names(entry, session, needle):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


# Ray (2.5x on) announces, on every start of a local cluster, that it turned on token
# authentication: nothing the user can act on for a Ray plugdata starts and stops. Only that
# notice is dropped; Ray's other warnings (token authentication *disabled* among them) stay.
RAY_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
RAY_TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster"


class _TokenNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(RAY_TOKEN_NOTICE)


def quiet_token_notice() -> None:
    """Drop Ray's notice that a local cluster enabled token authentication."""
    logger = logging.getLogger(RAY_TOKEN_LOGGER)
    if not any(isinstance(f, _TokenNotice) for f in logger.filters):
        logger.addFilter(_TokenNotice())


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


def _names(process: Path, session: str, needle: bytes) -> bool:
    """Whether the /proc entry of a process names the Ray session (linux; False if gone)."""
    try:
        cmdline = (process / "cmdline").read_bytes()
        if needle in cmdline:
            return True
        if not cmdline.startswith(b"ray::"):  # a user's `tail -f` of its log is not Ray's
            return False
        return any(session in os.readlink(fd) for fd in (process / "fd").iterdir())
    except OSError:
        return False
