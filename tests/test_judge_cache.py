"""The judgment cache's group commits: sending threads never queue for the file, and every
answer put is committed by `flush` (which the run calls before releasing its claims) or by
`close`, as another connection to the file sees."""

from __future__ import annotations

import threading

from trainer.judge.run import JudgmentCache


def _stored(path) -> dict[str, str]:
    """What a second connection (another process, a later run) reads from the file."""
    other = JudgmentCache(path)
    try:
        return dict(other._db.query("SELECT key, raw FROM judgments"))
    finally:
        other.close()


def put_while_busy(cache: JudgmentCache, key: str, raw: str) -> None:
    """`put` from a sending thread while another thread (committing, or taking a claim) holds
    the file's lock: it must return at once, leaving the answer waiting."""
    cache._lock.acquire()
    try:
        put = threading.Thread(target=cache.put, args=(key, raw))
        put.start()
        put.join(timeout=5)
        assert not put.is_alive()  # it did not wait for the lock
    finally:
        cache._lock.release()


def test_answers_put_from_32_threads_are_all_committed_by_flush(tmp_path):
    cache = JudgmentCache(tmp_path / "j.sqlite")

    def send(thread: int) -> None:
        for i in range(40):
            cache.put(f"k{thread}-{i}", f"answer {thread} {i} [[A]]")

    threads = [threading.Thread(target=send, args=(t,)) for t in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.flush()
    stored = _stored(tmp_path / "j.sqlite")
    assert len(stored) == 32 * 40
    assert stored["k31-39"] == "answer 31 39 [[A]]"
    assert cache.get("k0-0") == "answer 0 0 [[A]]"
    cache.close()


def test_a_put_while_the_file_is_busy_returns_at_once_and_flush_commits_it(tmp_path):
    cache = JudgmentCache(tmp_path / "j.sqlite")
    put_while_busy(cache, "k", "[[B]]")
    assert _stored(tmp_path / "j.sqlite") == {}  # not committed yet
    cache.flush()
    assert _stored(tmp_path / "j.sqlite") == {"k": "[[B]]"}
    cache.close()


def test_close_commits_the_answers_still_waiting(tmp_path):
    cache = JudgmentCache(tmp_path / "j.sqlite")
    put_while_busy(cache, "late", "[[C]]")  # it left the answer waiting
    cache.close()
    assert _stored(tmp_path / "j.sqlite") == {"late": "[[C]]"}
