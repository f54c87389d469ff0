"""The workers' running totals: kept in shards, one a writing process, summed when read."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.recordings import stats
from app.recordings.models import MetricTotal

DONE = (stats.ATTEMPTS, stats.labels(outcome="done"))
FAILED = (stats.ATTEMPTS, stats.labels(outcome="failed"))


@pytest.fixture
def session(connection):
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


def test_two_writers_in_different_shards_add_up_exactly(session):
    stats.add(session, {DONE: 3.0, (stats.ARCHIVED_BYTES, ""): 1500.0}, shard=1)
    stats.add(session, {DONE: 2.0, FAILED: 1.0, (stats.ARCHIVED_BYTES, ""): 250.5}, shard=2)
    stats.add(session, {DONE: 1.0}, shard=1)
    assert list(stats.totals(session)) == [
        (stats.ATTEMPTS, 'outcome="done"', 6.0),
        (stats.ATTEMPTS, 'outcome="failed"', 1.0),
        (stats.ARCHIVED_BYTES, "", 1750.5),
    ]
    # Kept apart, summed only when read.
    assert session.scalar(select(func.count()).select_from(MetricTotal)) == 5


def test_the_metrics_page_adds_up_every_shard(session, client):
    stats.add(session, {DONE: 4.0, **stats.histogram(stats.DOWNLOAD_SECONDS, 0.3)}, shard=7)
    stats.add(session, {DONE: 5.0, **stats.histogram(stats.DOWNLOAD_SECONDS, 20.0)}, shard=63)
    session.flush()
    body = client.get("/metrics").get_data(as_text=True)
    assert 'recording_archiver_archive_attempts_total{outcome="done"} 9.0' in body
    assert 'recording_archiver_download_seconds_bucket{le="0.5"} 1.0' in body
    assert 'recording_archiver_download_seconds_bucket{le="30.0"} 2.0' in body
    assert "recording_archiver_download_seconds_count 2.0" in body
    assert "recording_archiver_download_seconds_sum 20.3" in body


def test_a_process_writes_to_one_shard_of_the_fixed_range(session):
    first = stats.own_shard()
    assert 0 <= first < stats.SHARDS
    assert all(stats.own_shard() == first for _ in range(10))
    stats.add(session, {DONE: 1.0})
    stats.add(session, {DONE: 1.0})
    assert session.execute(select(MetricTotal.shard, MetricTotal.value)).all() == [(first, 2.0)]


def test_a_forked_child_draws_its_own_shard(monkeypatch):
    parent = stats.own_shard()
    drawn = iter([parent, (parent + 1) % stats.SHARDS])
    monkeypatch.setattr(stats.random, "randrange", lambda _n: next(drawn))
    monkeypatch.setattr(stats.os, "getpid", lambda: -1)  # not the pid that drew
    # The child redraws (and the first draw repeats its parent's: drawn at
    # random, two processes may share a shard, which only costs them waiting).
    assert stats.own_shard() == parent
    monkeypatch.setattr(stats.os, "getpid", lambda: -2)
    assert stats.own_shard() == (parent + 1) % stats.SHARDS


def test_a_writer_does_not_wait_on_another_shards_open_transaction(
    live_engine: Engine, is_postgres: bool
):
    if not is_postgres:
        pytest.skip("SQLite takes one write lock for the whole database")
    with Session(live_engine) as holder, Session(live_engine) as other:
        stats.add(holder, {DONE: 1.0}, shard=1)  # its row locks held until it ends
        other.execute(text("SET LOCAL lock_timeout = '2s'"))
        stats.add(other, {DONE: 1.0}, shard=2)
        other.commit()
        other.execute(text("SET LOCAL lock_timeout = '200ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            stats.add(other, {DONE: 1.0}, shard=1)  # the same shard's row does wait
        other.rollback()
        holder.commit()
        assert dict(((n, lab), v) for n, lab, v in stats.totals(other))[DONE] == 2.0
