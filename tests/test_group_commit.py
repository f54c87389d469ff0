"""Group commit (PostgreSQL): callbacks that arrive while a batch is in flight commit
together in one transaction, each caller answered only once that COMMIT has
returned, and one unit's failure is never another's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError

from app.db import GroupCommit, Write
from app.providers import PROVIDERS
from app.recordings.reports import CallbackEvent, callback_lock_order, callback_writes
from tests.helpers import recording_params, recording_sid

pytestmark = pytest.mark.postgres_only

LOCK = 7_212_021  # an advisory lock the first batch waits on while the next one gathers


@pytest.fixture(autouse=True)
def needs_postgresql(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("group commit is PostgreSQL's (psycopg's pipeline mode)")


def callback(n: int, status: str = "completed") -> tuple[list[Write], tuple[str, ...]]:
    params = recording_params(status, sid=recording_sid(n))
    report = PROVIDERS["twilio"].parse_callback(params)
    event = CallbackEvent("POST", params, "127.0.0.1", f"request-{n}", None)
    return callback_writes(report, event), callback_lock_order(report)


def send(
    pool: ThreadPoolExecutor, committer: GroupCommit, n: int, status: str = "completed"
) -> Future[list[Any]]:
    writes, order = callback(n, status)
    return pool.submit(committer.run, writes, order=order)


def poll(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def held(live_engine: Engine) -> Iterator[tuple[GroupCommit, ThreadPoolExecutor, Any]]:
    """A committer whose first batch is held in flight (waiting on an advisory lock
    this test holds) until the test calls the third item."""
    committer = GroupCommit(live_engine)
    holder = live_engine.connect()
    holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK})
    pool = ThreadPoolExecutor(max_workers=16)
    first = pool.submit(committer.run, [(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK})])

    def first_batch_waits_on_the_lock() -> bool:
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        return bool(holder.execute(text(waiting)).scalar_one())

    poll(first_batch_waits_on_the_lock)

    def release() -> None:
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK})
        first.result(timeout=10)

    try:
        yield committer, pool, release
    finally:
        holder.invalidate()  # closed, not pooled: its session's lock goes with it
        holder.close()
        pool.shutdown(wait=True)


def stored_events(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM recording_events")).scalar_one())


def test_callbacks_arriving_while_a_batch_is_in_flight_commit_in_one_transaction(
    held: tuple[GroupCommit, ThreadPoolExecutor, Any], live_engine: Engine
) -> None:
    committer, pool, release = held
    answers = [send(pool, committer, n) for n in range(10)]
    with_transaction = [
        pool.submit(committer.run, [(text("SELECT txid_current()"), {})]) for _ in range(3)
    ]
    poll(lambda: committer.waiting() == 13)
    assert not any(answer.done() for answer in answers), "answered before any commit"
    release()

    assert [answer.result(timeout=10)[0][0] for answer in answers] == [1] * 10  # each stored
    assert len({future.result(timeout=10)[0][0] for future in with_transaction}) == 1
    assert stored_events(live_engine) == 10


def test_each_caller_is_answered_only_after_its_commit_is_visible_to_others(
    live_engine: Engine,
) -> None:
    committer = GroupCommit(live_engine)
    for n in range(5):
        writes, order = callback(n)
        assert committer.run(writes, order=order)[0][0] == 1
        assert stored_events(live_engine) == n + 1


def test_a_unit_that_fails_fails_alone_and_the_rest_of_its_batch_commits(
    held: tuple[GroupCommit, ThreadPoolExecutor, Any], live_engine: Engine
) -> None:
    committer, pool, release = held
    good = [send(pool, committer, n) for n in range(5)]
    bad: Future[list[Any]] = pool.submit(committer.run, [(text("SELECT 1 / 0"), {})])
    poll(lambda: committer.waiting() == 6)
    release()

    assert [answer.result(timeout=10)[0][0] for answer in good] == [1] * 5
    with pytest.raises(DataError):
        bad.result(timeout=10)
    assert stored_events(live_engine) == 5


def test_a_repeat_in_the_same_batch_is_stored_once(
    held: tuple[GroupCommit, ThreadPoolExecutor, Any], live_engine: Engine
) -> None:
    committer, pool, release = held
    copies = [send(pool, committer, 1) for _ in range(3)]
    later = send(pool, committer, 1, "in-progress")
    poll(lambda: committer.waiting() == 4)
    release()

    assert sorted(copy.result(timeout=10)[0][0] for copy in copies) == [0, 0, 1]
    assert later.result(timeout=10)[0][0] == 1  # a different callback: its own event
    assert stored_events(live_engine) == 2
    with live_engine.connect() as connection:
        status = connection.execute(text("SELECT provider_status FROM recordings")).scalars()
        assert list(status) == ["completed"]  # a late in-progress does not move it back


def test_a_committer_in_a_forked_copy_starts_its_own_thread(live_engine: Engine) -> None:
    committer = GroupCommit(live_engine)
    committer.run([(text("SELECT 1"), {})])
    committer._committer_pid = -1  # as a fork sees it: the thread is the parent's
    before = threading.active_count()
    assert committer.run([(text("SELECT 2"), {})])[0][0] == 2
    assert threading.active_count() == before + 1
