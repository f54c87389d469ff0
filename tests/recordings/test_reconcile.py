"""Reconciliation against a fake Twilio API serving several pages of recordings."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from app import create_app
from app.db import make_session_factory, transaction
from app.providers import PROVIDERS
from app.providers.errors import ProviderError
from app.providers.telnyx_api import MediaOrigin
from app.recordings.models import ArchiveState, Recording
from app.recordings.reconcile import (
    ARCHIVED,
    KNOWN,
    MALFORMED,
    NO_MEDIA_RECORDED,
    QUEUED,
    STILL_PROCESSING,
    claim_scheduled_run,
    reconcile,
)
from app.work.models import WorkItem
from app.worker import RETRY_FAILED_RUN, ReconcileSchedule
from tests.archive.helpers import queue_recording, wait_for
from tests.fakes.compat_api import Body
from tests.helpers import (
    TELNYX_ACCOUNT,
    TELNYX_API_KEY,
    TelnyxSigner,
    make_settings,
    recording_sid,
    uuid_n,
)

DAY = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)
SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture
def sessions(live_engine):
    return make_session_factory(live_engine)


@pytest.fixture
def api(fake_twilio, database_url):
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
    )
    return PROVIDERS["twilio"].api(settings)


def states(sessions) -> dict[str, ArchiveState]:
    with sessions() as session:
        return dict(session.execute(select(Recording.recording_sid, Recording.archive_state)).all())


@pytest.fixture
def history(fake_twilio, sessions):
    """25 recordings at the provider, some known here already."""
    kinds = (
        ["unknown"] * 6
        + ["waiting"] * 3
        + ["archived"] * 4
        + ["processing"] * 3
        + ["absent"] * 2
        + ["queued"] * 2
        + ["outside"] * 5
    )
    sids: dict[str, list[str]] = {}
    for n, kind in enumerate(kinds, 1):
        sid = recording_sid(500 + n)
        sids.setdefault(kind, []).append(sid)
        created = (
            DAY - dt.timedelta(days=30) if kind == "outside" else DAY + dt.timedelta(minutes=n)
        )
        status = {"processing": "processing", "absent": "absent"}.get(kind, "completed")
        fake_twilio.add_recording(
            sid, mono=Body(1000, n), status=status, date_created=created, call_sid="CA" + "1" * 32
        )
        if kind == "waiting":
            queue_recording(sessions, fake_twilio, sid, RecordingStatus="in-progress")
        elif kind in ("archived", "queued"):
            queue_recording(sessions, fake_twilio, sid)
    with transaction(sessions) as session:
        session.execute(
            Recording.__table__.update()
            .where(Recording.recording_sid.in_(sids["archived"]))
            .values(archive_state=ArchiveState.DONE)
        )
    return sids


def test_exactly_the_missed_recordings_are_queued_and_a_second_run_changes_nothing(
    api, history, sessions, fake_twilio
):
    pages: list[int] = []
    summary = reconcile(sessions, api, SINCE, page_size=5, on_page=lambda s: pages.append(s.pages))
    assert summary.listed == 20  # the five from October are outside the window
    assert summary.pages == 4 == len(pages)
    assert summary.outcomes[QUEUED] == 9  # 6 unknown + 3 waiting
    assert summary.outcomes[ARCHIVED] == 4
    assert summary.outcomes[STILL_PROCESSING] == 3
    assert summary.outcomes[NO_MEDIA_RECORDED] == 2
    assert summary.outcomes[KNOWN] == 2
    now = states(sessions)
    for sid in history["unknown"] + history["waiting"] + history["queued"]:
        assert now[sid] is ArchiveState.QUEUED
    for sid in history["absent"]:
        assert now[sid] is ArchiveState.NO_MEDIA
    for sid in history["processing"] + history["outside"]:
        assert sid not in now
    with sessions() as session:
        row = session.execute(
            select(Recording).where(Recording.recording_sid == history["unknown"][0])
        ).scalar_one()
    assert row.media_url == fake_twilio.recording_url(row.recording_sid)
    assert row.call_sid == "CA" + "1" * 32 and row.channels == 1 and row.duration_seconds == 42

    again = reconcile(sessions, api, SINCE, page_size=5)
    assert again.outcomes[QUEUED] == 0 and again.outcomes[NO_MEDIA_RECORDED] == 0
    assert states(sessions) == now


def test_a_dry_run_changes_nothing(api, history, sessions):
    before = states(sessions)
    summary = reconcile(sessions, api, SINCE, page_size=7, dry_run=True)
    assert summary.outcomes[QUEUED] == 9
    assert states(sessions) == before


def test_the_window_is_since_to_until(api, history, sessions):
    summary = reconcile(sessions, api, SINCE, DAY.replace(hour=0) + dt.timedelta(days=1))
    assert summary.listed == 20
    assert reconcile(sessions, api, SINCE, DAY.replace(hour=0)).listed == 0


def test_two_runs_and_a_callback_racing_leave_one_row_each(api, history, sessions, fake_twilio):
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(10)
            reconcile(sessions, api, SINCE, page_size=3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def callback() -> None:
        start.wait(10)
        for sid in history["unknown"]:
            queue_recording(sessions, fake_twilio, sid)

    threads = [
        threading.Thread(target=run),
        threading.Thread(target=run),
        threading.Thread(target=callback),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with sessions() as session:
        counts = Counter(session.execute(select(Recording.recording_sid)).scalars())
        total = session.execute(select(func.count()).select_from(Recording)).scalar_one()
    assert set(counts.values()) == {1}
    assert total == len(counts) == 20 - 3  # all listed in the window but the processing ones
    now = states(sessions)
    assert {now[s] for s in history["unknown"] + history["waiting"]} == {ArchiveState.QUEUED}
    assert {now[s] for s in history["archived"]} == {ArchiveState.DONE}


def test_the_cli_says_what_it_found_and_did(database_url, history, fake_twilio):
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
    )
    runner = create_app({"settings": settings}).test_cli_runner()
    result = runner.invoke(
        args=["reconcile", "--provider", "twilio", "--since", "2026-11-01", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "20 recordings listed" in result.output
    assert "9  would be queued" in result.output
    assert "page 1: 20 listed" in result.output  # a plain line per page off a terminal
    refused = runner.invoke(args=["reconcile", "--provider", "nosuch", "--since", "2026-11-01"])
    assert refused.exit_code != 0 and "known providers" in refused.output


def test_a_scheduled_run_is_claimed_by_exactly_one_caller_per_period(sessions):
    now = DAY
    every = dt.timedelta(minutes=60)
    results = []
    for _ in range(3):
        with transaction(sessions) as session:
            results.append(claim_scheduled_run(session, every, now) is not None)
    assert results == [True, False, False]
    with transaction(sessions) as session:
        assert claim_scheduled_run(session, every, now + every) is not None


def test_a_page_with_values_our_columns_cannot_take_is_skipped_not_fatal(
    api, fake_twilio, sessions
):
    fake_twilio.add_recording(
        recording_sid(900), mono=Body(10, 1), date_created=DAY, call_sid="CA" + "x" * 200
    )
    fake_twilio.add_recording(recording_sid(901), mono=Body(10, 1), date_created=DAY)
    summary = reconcile(sessions, api, SINCE)
    assert summary.outcomes[QUEUED] == 1
    assert summary.listed == 2


def test_telnyx_recordings_are_listed_page_by_page_and_queued(fake_telnyx, database_url, sessions):
    for n in range(7):
        fake_telnyx.add_recording(uuid_n(n, "telnyx-listed"), body=Body(100, n), date_created=DAY)
    settings = make_settings(
        database_url=database_url,
        telnyx_api_base_url=fake_telnyx.api_base_url,
        telnyx_api_key=TELNYX_API_KEY,
        telnyx_public_key=TelnyxSigner().public_key,
        telnyx_account_sid=TELNYX_ACCOUNT,
        telnyx_media_hosts=(MediaOrigin.parse(fake_telnyx.storage_origin),),
    )
    api = PROVIDERS["telnyx"].api(settings)
    summary = reconcile(sessions, api, SINCE, page_size=3)
    assert (summary.listed, summary.pages, summary.outcomes[QUEUED]) == (7, 3, 7)
    with sessions() as session:
        urls = session.execute(select(Recording.media_url)).scalars().all()
    assert all(url.startswith(fake_telnyx.storage_origin) for url in urls)


# -- a provider's bad answers, a stop between pages, the prefetch thread ending


def reconcile_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "reconcile-pages"]


def telnyx_api(fake_telnyx, database_url):
    settings = make_settings(
        database_url=database_url,
        telnyx_api_base_url=fake_telnyx.api_base_url,
        telnyx_api_key=TELNYX_API_KEY,
        telnyx_public_key=TelnyxSigner().public_key,
        telnyx_account_sid=TELNYX_ACCOUNT,
        telnyx_media_hosts=(MediaOrigin.parse(fake_telnyx.storage_origin),),
    )
    return PROVIDERS["telnyx"].api(settings)


@pytest.mark.parametrize("fault", ["cut-off", "not-an-object"])
def test_a_broken_listing_page_is_a_provider_error_that_says_what_was_wrong(
    api, fake_twilio, fake_telnyx, database_url, sessions, fault
):
    for n in range(3):
        fake_twilio.add_recording(recording_sid(950 + n), mono=Body(10, n), date_created=DAY)
        fake_telnyx.add_recording(uuid_n(n, "broken"), body=Body(10, n), date_created=DAY)
    expected = "not valid JSON" if fault == "cut-off" else "a JSON list, not an object"
    for client, fake in ((api, fake_twilio), (telnyx_api(fake_telnyx, database_url), fake_telnyx)):
        fake.list_faults = [fault]
        with pytest.raises(ProviderError, match=expected) as raised:
            reconcile(sessions, client, SINCE)
        assert "\n" not in raised.value.message
        assert raised.value.retryable
    assert states(sessions) == {}


def test_an_entry_without_a_sid_is_counted_as_malformed_and_the_rest_of_its_page_is_kept(
    api, fake_twilio, fake_telnyx, database_url, sessions
):
    for n in range(3):
        fake_twilio.add_recording(recording_sid(960 + n), mono=Body(10, n), date_created=DAY)
        fake_telnyx.add_recording(uuid_n(n, "no-sid"), body=Body(10, n), date_created=DAY)
    for client, fake in ((api, fake_twilio), (telnyx_api(fake_telnyx, database_url), fake_telnyx)):
        fake.list_faults = ["no-sid"]
        summary = reconcile(sessions, client, SINCE)
        assert (summary.listed, summary.outcomes[MALFORMED], summary.outcomes[QUEUED]) == (3, 1, 2)
        assert any("1  skipped (malformed" in line for line in summary.lines())
    assert len(states(sessions)) == 4


def test_the_cli_says_in_one_line_what_was_wrong_with_the_answer_and_exits_non_zero(
    database_url, fake_twilio
):
    fake_twilio.add_recording(recording_sid(970), mono=Body(10, 1), date_created=DAY)
    fake_twilio.list_faults = ["cut-off"]
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
    )
    runner = create_app({"settings": settings}).test_cli_runner()
    result = runner.invoke(args=["reconcile", "--provider", "twilio", "--since", "2026-11-01"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: listing failed: listing recordings:")
    assert "not valid JSON" in lines[0] and "Traceback" not in result.output


def test_a_stop_ends_the_run_between_pages_and_its_fetcher_with_it(api, fake_twilio, sessions):
    for n in range(30):
        fake_twilio.add_recording(recording_sid(1100 + n), mono=Body(10, n), date_created=DAY)
    stop = threading.Event()
    summary = reconcile(sessions, api, SINCE, page_size=2, on_page=lambda _s: stop.set(), stop=stop)
    assert (summary.pages, summary.listed, summary.stopped) == (1, 2, True)
    assert "stopped early" in summary.lines()[0]
    wait_for(lambda: not reconcile_threads(), 10, "the prefetch thread to end")
    lists = [r for r in fake_twilio.requests if r.kind == "list"]
    assert len(lists) <= 4  # the page written, and at most the few fetched ahead


def test_the_prefetch_thread_ends_when_its_reader_is_gone(api, fake_twilio, sessions):
    for n in range(30):
        fake_twilio.add_recording(recording_sid(1200 + n), mono=Body(10, n), date_created=DAY)

    def reader_fails(_summary) -> None:
        raise RuntimeError("the reader gives up after one page")

    with pytest.raises(RuntimeError) as raised:
        reconcile(sessions, api, SINCE, page_size=1, on_page=reader_fails)
    # The traceback (held here) keeps the run's frame alive: the thread must end
    # because the reader said so, not because its generator was collected.
    assert raised.traceback
    wait_for(lambda: not reconcile_threads(), 10, "the prefetch thread to end")
    assert len([r for r in fake_twilio.requests if r.kind == "list"]) < 30


def test_a_scheduled_run_a_broken_page_failed_is_given_back_and_tried_again_soon(
    fake_twilio, database_url, sessions
):
    fake_twilio.add_recording(recording_sid(980), mono=Body(10, 1))
    fake_twilio.list_faults = ["cut-off"]
    settings = make_settings(
        database_url=database_url,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_api_base_url=fake_twilio.base_url,
        reconcile_every_minutes=60.0,
    )
    ReconcileSchedule(settings, sessions).run_if_due()  # raises nothing
    with sessions() as session:
        run = session.execute(select(WorkItem)).scalar_one()
    assert "twilio: failed: listing recordings: the provider's answer is not valid JSON" in (
        run.result
    )
    assert run.started_at is not None
    again_in = run.run_after - run.started_at
    assert again_in <= RETRY_FAILED_RUN + dt.timedelta(seconds=5), again_in
    assert states(sessions) == {}

    with transaction(sessions) as session:  # that time has come
        session.execute(WorkItem.__table__.update().values(run_after=run.started_at))
    ReconcileSchedule(settings, sessions).run_if_due()
    assert states(sessions) == {recording_sid(980): ArchiveState.QUEUED}
