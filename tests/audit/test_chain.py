"""The audit log's chain: verify names the first entry edited or removed; export is CSV."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import audit
from app.audit import actions
from app.db import make_session_factory, transaction


def write(connection, count: int) -> None:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as db:
        for n in range(count):
            audit.record(
                db,
                actor=actions.user_actor("ann"),
                address="192.0.2.7",
                action=actions.RECORDING_LISTEN,
                recording_sid=f"RE{n:032x}",
            )
        db.commit()


def test_an_untouched_log_verifies(runner, connection):
    write(connection, 5)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "verified" in result.output


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_entries SET actor = 'user:bob' WHERE id = {third}",
        "DELETE FROM audit_entries WHERE id = {second}",
    ],
)
def test_an_entry_changed_or_removed_with_sql_makes_verify_fail_naming_it(
    runner, connection, tamper
):
    write(connection, 5)
    ids = connection.execute(text("SELECT id FROM audit_entries ORDER BY id")).scalars().all()
    connection.execute(text(tamper.format(second=ids[1], third=ids[2])))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    # Edited: the entry itself; removed: the one after the gap.
    assert f"audit entry {ids[2]} " in result.output


def test_export_writes_csv_with_a_header_and_the_days_asked_for(runner, connection):
    write(connection, 3)
    result = runner.invoke(args=["audit", "export", "--since", "2000-01-01"])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["id", "at", "actor", "address", "action", "recording_sid", "detail", "hash"]
    assert [row[4] for row in rows[1:]] == [actions.RECORDING_LISTEN] * 3
    empty = runner.invoke(args=["audit", "export", "--until", "2000-01-01"]).output
    assert empty.splitlines()[1:] == []


def test_concurrent_writers_do_not_fork_the_chain(live_engine):
    sessions = make_session_factory(live_engine)

    def append(n: int) -> None:
        for _ in range(10):
            with transaction(sessions) as db:
                audit.record(db, actor=f"user:w{n}", address=None, action=actions.LOGIN)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as db:
        assert audit.verify(db) is None
        assert db.execute(text("SELECT count(DISTINCT hash) FROM audit_entries")).scalar() == 60
