"""Work items: claimed rows under a lease, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from app.db import make_session_factory, transaction, utcnow
from app.work import items
from app.work.models import WorkItem, WorkStatus

LEASE = dt.timedelta(seconds=60)


@pytest.fixture
def session(connection):
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


def row(session: Session, claim: items.WorkClaim) -> WorkItem:
    session.expire_all()
    item = session.get(WorkItem, claim.id)
    assert item is not None
    return item


def test_adding_is_idempotent_on_kind_and_key(session):
    now = utcnow()
    assert items.enqueue(session, "k", "a", now)
    assert not items.enqueue(session, "k", "a", now)
    assert items.enqueue(session, "other", "a", now)
    assert items.has_pending(session, "k")
    assert not items.has_pending(session, "none")


def test_a_claim_takes_a_lease_and_counts_a_try(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    claim = items.claim(session, "k", "w1", LEASE, now)
    assert claim is not None and claim.tries == 1 and claim.key == "a"
    item = row(session, claim)
    assert item.status is WorkStatus.RUNNING
    assert item.lease_owner == "w1"
    assert item.lease_expires_at == item.run_after == now + LEASE
    assert items.claim(session, "k", "w2", LEASE, now) is None


def test_only_due_items_of_the_kinds_asked_for_are_claimed(session):
    now = utcnow()
    items.enqueue(session, "k", "later", now + dt.timedelta(minutes=1))
    items.enqueue(session, "other", "now", now)
    assert items.claim(session, "k", "w1", LEASE, now) is None
    claim = items.claim(session, ["k", "other"], "w1", LEASE, now)
    assert claim is not None and claim.kind == "other"
    later = items.claim(session, "k", "w1", LEASE, now + dt.timedelta(minutes=1))
    assert later is not None and later.key == "later"


def test_renewing_extends_the_lease_while_held(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    claim = items.claim(session, "k", "w1", LEASE, now)
    assert claim is not None
    assert items.renew(session, claim, LEASE, now + dt.timedelta(seconds=50))
    assert row(session, claim).run_after == now + dt.timedelta(seconds=110)
    assert items.claim(session, "k", "w2", LEASE, now + dt.timedelta(seconds=70)) is None


def test_an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_write(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    first = items.claim(session, "k", "w1", LEASE, now)
    second = items.claim(session, "k", "w2", LEASE, now + LEASE)
    assert first is not None and second is not None and second.id == first.id
    assert second.tries == 2
    assert not items.renew(session, first, LEASE)
    assert not items.finish(session, first)
    assert not items.give_back(session, first)
    assert not items.fail(session, first, "late", None)
    assert row(session, second).lease_owner == "w2"
    assert items.finish(session, second, result="done by w2")


def test_a_finished_item_is_never_claimed_again(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    claim = items.claim(session, "k", "w1", LEASE, now)
    assert claim is not None
    assert items.finish(session, claim, result="all well", now=now)
    item = row(session, claim)
    assert item.status is WorkStatus.DONE and item.result == "all well"
    assert item.lease_owner is None and item.lease_expires_at is None
    assert item.finished_at == now
    assert items.claim(session, "k", "w1", LEASE, now + 10 * LEASE) is None
    assert not items.has_pending(session, "k")


def test_giving_back_counts_no_try_and_makes_it_due_again(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    claim = items.claim(session, "k", "w1", LEASE, now)
    assert claim is not None
    assert items.give_back(session, claim, now, result="stopped")
    item = row(session, claim)
    assert item.status is WorkStatus.QUEUED and item.tries == 0 and item.run_after == now
    assert item.lease_owner is None and item.result == "stopped"
    again = items.claim(session, "k", "w2", LEASE, now)
    assert again is not None and again.tries == 1


def test_failing_counts_the_try_and_retries_after_the_backoff(session):
    now = utcnow()
    first, longest = dt.timedelta(minutes=5), dt.timedelta(minutes=60)
    items.enqueue(session, "k", "a", now)
    waits = []
    for _ in range(5):
        claim = items.claim(session, "k", "w1", LEASE, now)
        assert claim is not None
        wait = items.backoff(claim.tries, first, longest)
        waits.append(wait)
        assert items.fail(session, claim, "broken", now + wait)
        assert items.claim(session, "k", "w1", LEASE, now + wait - dt.timedelta(seconds=1)) is None
        now += wait
    assert [w.total_seconds() / 60 for w in waits] == [5, 10, 20, 40, 60]
    item = row(session, claim)
    assert item.status is WorkStatus.QUEUED and item.tries == 5 and item.last_error == "broken"


def test_failing_with_no_retry_gives_up(session):
    now = utcnow()
    items.enqueue(session, "k", "a", now)
    claim = items.claim(session, "k", "w1", LEASE, now)
    assert claim is not None
    assert items.fail(session, claim, "hopeless", None, result="gave up")
    item = row(session, claim)
    assert item.status is WorkStatus.FAILED and item.last_error == "hopeless"
    assert items.claim(session, "k", "w1", LEASE, now + 10 * LEASE) is None


def test_pruning_deletes_only_finished_items_of_the_kind(session):
    now = utcnow()
    for key in ("old", "running", "queued"):
        items.enqueue(session, "k", key, now)
    items.enqueue(session, "other", "old", now)
    for kind in ("k", "other"):
        claim = items.claim(session, kind, "w1", LEASE, now)
        assert claim is not None
        items.finish(session, claim, now=now - dt.timedelta(days=8))
    items.claim(session, "k", "w1", LEASE, now)
    assert items.prune(session, "k", now - dt.timedelta(days=7)) == 1
    left = session.execute(select(WorkItem.kind, WorkItem.key)).all()
    assert sorted(left) == [("k", "queued"), ("k", "running"), ("other", "old")]


def test_two_claimers_never_get_the_same_item(live_engine: Engine):
    sessions = make_session_factory(live_engine)
    now = utcnow()
    with transaction(sessions) as session:
        for n in range(40):
            items.enqueue(session, "k", f"item-{n}", now)
    barrier = Barrier(4)

    def claim_all(owner: str) -> list[int]:
        barrier.wait(timeout=30)
        claimed = []
        while True:
            with transaction(sessions) as session:
                claim = items.claim(session, "k", owner, LEASE)
            if claim is None:
                return claimed
            claimed.append(claim.id)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim_all, ["w1", "w2", "w3", "w4"]))
    every = [rid for ids in results for rid in ids]
    assert len(every) == 40
    assert len(set(every)) == 40


@pytest.mark.postgres_only
def test_a_claim_skips_a_row_another_claim_has_locked(live_engine: Engine, is_postgres: bool):
    """FOR UPDATE SKIP LOCKED: the second claimer neither waits for nor takes
    the row the first has claimed but not yet committed."""
    if not is_postgres:
        pytest.skip("row locks are PostgreSQL's; SQLite's claims queue on its write lock")
    sessions = make_session_factory(live_engine)
    now = utcnow()
    with transaction(sessions) as session:
        items.enqueue(session, "k", "first", now - dt.timedelta(seconds=1))
        items.enqueue(session, "k", "second", now)
    with transaction(sessions) as holding:
        first = items.claim(holding, "k", "w1", LEASE, now)
        with transaction(sessions) as other:
            other.execute(LOCK_TIMEOUT)
            second = items.claim(other, "k", "w2", LEASE, now)
    assert first is not None and second is not None
    assert (first.key, second.key) == ("first", "second")


LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '2s'")
