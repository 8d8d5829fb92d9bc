"""Who is asking for which answer right now: claims kept in a cache's own SQLite file, so that
processes sharing one cache (three `plugdata translate` runs, three builds, two judges) pay once
for an answer (a translated segment, a verdict), not once each.

Before sending, a process claims the keys the cache lacks, in one transaction: those nobody
holds become its own and it sends only those; those another live process holds it waits for,
polling the cache, and takes over when their claim lapses. A claim lasts `CLAIM_SECONDS` unless
its owner renews it (a thread does while the owner sends), so a process killed at any moment
stops holding anything within that time, and at once for the processes of its own host, which
see that its pid is gone. Claims are released when the sending ends, answered or not: failures
are never cached, so another process may try what this one could not get answered.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plugdata.core.console import say
from plugdata.core.store import CacheError, GroupedInserts, Store

CLAIMS_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    token TEXT NOT NULL,
    expires REAL NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS claims_token ON claims (token)",
)
CLAIM_SECONDS = 60.0  # a claim's life without renewal; its owner renews it every third of that
POLL_SECONDS = (0.05, 1.0)  # first and longest pause between looks at keys others hold
ANNOUNCE_WAITS_OVER = 5.0  # seconds, as for the waits of `plugdata.remote.retrying`
_CHUNK = 500  # keys per `IN (...)`: under SQLite's limit on parameters


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has that pid (one of another user counts as alive)."""
    if os.name == "nt":  # signal 0 is CTRL_C_EVENT there: let the claim lapse instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Claim:
    """One `Claims.take`: the units (key -> what to send) it made this process's own (`mine`: send
    them), those a live other process holds (`held`: wait, then take again), and how many were
    answered already. Used as a context manager around the sending: renews `mine` meanwhile,
    releases it at the end."""

    claims: Claims
    token: str
    mine: dict[str, Any] = field(default_factory=dict)
    held: dict[str, Any] = field(default_factory=dict)
    answered: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _renewer: threading.Thread | None = None

    def __enter__(self) -> Claim:
        if self.mine:
            self._renewer = threading.Thread(target=self._renew, daemon=True)
            self._renewer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.mine:
            self.claims.release(self.token)

    def _renew(self) -> None:
        every = self.claims.ttl / 3
        while not self._stop.wait(every):
            # A file locked past the busy timeout only lets the claim lapse early.
            with contextlib.suppress(CacheError):
                self.claims.renew(self.token)


@dataclass(frozen=True)
class ClaimSettings:
    """How long a claim lives, and the world a `Claims` sees: `clock` (wall time: claims are
    compared across processes), `sleep`, `alive`, `host`, `pid` and `say` are there for tests
    to inject."""

    ttl: float = CLAIM_SECONDS
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], object] = time.sleep
    alive: Callable[[int], bool] = pid_alive
    host: str | None = None  # None: this host's name
    pid: int | None = None  # None: this process's
    say: Callable[[str], None] = say


class Claims:
    """The claims table of one cache file, used through the cache's own connection and lock;
    `answers` is the cache's table of answers (keyed by `key`). `pending`: the answers this
    process has put and not yet committed (a cache that commits in groups), committed before
    a claim is taken (so that this process finds its own answers) and before one is released
    (so that another process finds them, instead of paying for them again)."""

    def __init__(
        self,
        store: Store,
        lock: threading.Lock,
        answers: str,
        settings: ClaimSettings | None,
        pending: GroupedInserts | None = None,
    ) -> None:
        s = settings or ClaimSettings()
        self.store, self.lock, self.answers, self.pending = store, lock, answers, pending
        self.ttl, self.clock, self.sleep, self.alive, self.say = (
            s.ttl,
            s.clock,
            s.sleep,
            s.alive,
            s.say,
        )
        self.host = s.host or socket.gethostname()
        self.pid = os.getpid() if s.pid is None else s.pid

    def take(self, units: dict[str, Any]) -> Claim:
        """Claim, in one transaction, every unit of `units` that is neither answered in the
        cache nor held by a live other process."""
        claim = Claim(self, uuid.uuid4().hex)
        if not units:
            return claim
        keys = list(units)
        now = self.clock()
        with self.lock:
            self._commit_pending()
            with self.store.transaction() as db:
                # What killed processes left: lapsed claims count for nobody (the table holds only
                # what is in flight, so this is quick).
                db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
                answered, holders = _answered_and_holders(db, self.answers, keys)
                for key in keys:
                    if key in answered:
                        claim.answered += 1
                    elif key in holders and self._holds(*holders[key], now):
                        claim.held[key] = units[key]
                    else:
                        claim.mine[key] = units[key]
                db.executemany(
                    "INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)",
                    [(key, self.host, self.pid, claim.token, now + self.ttl) for key in claim.mine],
                )
        return claim

    def _holds(self, host: str, pid: int, expires: float, now: float) -> bool:
        """Whether a claim still counts: not lapsed, and its owner not known to be dead (the
        pid of a process on another host cannot be checked: its claim lapses instead)."""
        return expires > now and (host != self.host or self.alive(pid))

    def renew(self, token: str) -> None:
        with self.lock:
            self.store.execute(
                "UPDATE claims SET expires = ? WHERE token = ?", (self.clock() + self.ttl, token)
            )

    def release(self, token: str) -> None:
        with self.lock:
            self._commit_pending()
            self.store.execute("DELETE FROM claims WHERE token = ?", (token,))

    def _commit_pending(self) -> None:
        if self.pending is not None:
            self.pending.commit_held()

    def settle(self, units: dict[str, Any], send: Callable[[dict[str, Any]], object]) -> None:
        """Have every unit of `units` answered in the cache or failed, paying once across the
        processes that share it: `send` the units this process claims, wait for those that
        others hold, and take over what they leave (released unanswered, or lapsed)."""
        todo, pause, waited, said = units, POLL_SECONDS[0], 0.0, False
        while todo:
            with self.take(todo) as claim:
                if claim.mine:
                    send(claim.mine)
            todo = claim.held
            if not todo:
                return
            if waited >= ANNOUNCE_WAITS_OVER and not said:
                self.say(
                    f"waiting for {len(todo)} answers that another process sharing the cache "
                    "is asking for"
                )
                said = True
            self.sleep(pause)
            waited += pause
            pause = min(pause * 2, POLL_SECONDS[1])


def _answered_and_holders(
    db: sqlite3.Connection, answers: str, keys: list[str]
) -> tuple[set[str], dict[str, tuple[str, int, float]]]:
    answered: set[str] = set()
    holders: dict[str, tuple[str, int, float]] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(f"SELECT key FROM {answers} WHERE key IN ({marks})", chunk)
        answered.update(key for (key,) in rows)
        rows = db.execute(
            f"SELECT key, host, pid, expires FROM claims WHERE key IN ({marks})", chunk
        )
        holders.update((key, (host, pid, expires)) for key, host, pid, expires in rows)
    return answered, holders
