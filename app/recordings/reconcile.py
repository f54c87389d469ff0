"""Reconciliation: find at the provider every recording the callbacks did not bring.

Providers do not promise their status callbacks (SignalWire's are never
retried; Twilio's are lost while the service is down), and a new user has
months of recordings already at the provider. This walks the provider's list
of recordings page by page and records each one exactly as its callback
would have: a completed recording the database does not know (or knows only
as waiting) is queued; an absent or failed one is recorded as having no
media; one still processing is left for a later run. Everything else is left
as it is, so a second run, or two runs at once, or a run racing callbacks,
changes nothing more: the writes are the same race-free upserts the webhook
uses, and a recording already queued, archived or failed is never touched.

Pages are fetched on a thread of their own while the previous page is being
written, one transaction per page.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue as queues
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction, utcnow
from app.providers.base import (
    AccountListing,
    ListsAccounts,
    ProviderApi,
    RecordingReport,
    RecordingStatus,
)
from app.providers.errors import ProviderError
from app.recordings import accounts
from app.recordings.models import ArchiveState, Recording
from app.recordings.reports import queue_call_details, record_reports
from app.work import items

log = logging.getLogger(__name__)

PAGE_SIZE = 1000  # the most Twilio and SignalWire give per page
STILL_MAKING = {"in-progress", "processing", "paused", "stopped", "queued", "resumed"}
NO_MEDIA = {RecordingStatus.ABSENT, RecordingStatus.FAILED}
# The scheduled reconciliation's periods are work items of this kind, keyed by
# the period's start (see ``claim_scheduled_run``).
RECONCILE_KIND = "reconcile"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A claimed period's lease: the worker renews it after each turn of pages, and
# between turns it archives a recording, so it must outlast one archive step.
PERIOD_LEASE = dt.timedelta(minutes=15)
KEEP_FINISHED_PERIODS = dt.timedelta(days=7)  # for people looking at the table

# What became of each listed recording.
QUEUED = "queued"
NO_MEDIA_RECORDED = "recorded as having no media"
ARCHIVED = "already archived"
KNOWN = "already queued, running, failed or without media"
STILL_PROCESSING = "still processing at the provider (left for a later run)"
SKIPPED = "skipped (deleted at the provider, or an unknown status)"
MALFORMED = "skipped (malformed in the provider's listing)"
OUTCOMES = (QUEUED, NO_MEDIA_RECORDED, ARCHIVED, KNOWN, STILL_PROCESSING, SKIPPED, MALFORMED)
# How long a wait on either side of the prefetch lasts before it looks at the
# stop flags again: short, so stopping is prompt.
SLICE_SECONDS = 0.2


@dataclass
class Summary:
    provider: str
    dry_run: bool = False
    listed: int = 0
    pages: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds: float = 0.0
    waiting_seconds: float = 0.0  # waiting for the provider's next page
    stopped: bool = False  # ended early: the worker was asked to stop
    account: str | None = None  # which of the provider's accounts (Twilio subaccounts)

    @property
    def label(self) -> str:
        return self.provider if self.account is None else f"{self.provider} {self.account}"

    def add(self, other: dict[str, int]) -> None:
        for name, count in other.items():
            self.outcomes[name] += count

    def lines(self) -> list[str]:
        verb = "would be " if self.dry_run else ""
        rate = self.listed / self.seconds if self.seconds else 0.0
        waiting = 100 * self.waiting_seconds / self.seconds if self.seconds else 0.0
        lines = [f"{self.label}: {self.listed:,} recordings listed in {self.pages} page(s)"]
        if self.stopped:
            lines[0] += " (stopped early: the worker was asked to stop)"
        for name in OUTCOMES:
            shown = f"{verb}{name}" if name in (QUEUED, NO_MEDIA_RECORDED) else name
            lines.append(f"  {self.outcomes[name]:>9,}  {shown}")
        lines.append(
            f"  {self.seconds:.1f}s, {rate:,.0f} recordings/s, "
            f"{waiting:.0f}% of it waiting for the provider"
        )
        return lines


def _sane(report: RecordingReport) -> bool:
    """What our columns take (a listing is the provider's to write, not ours to trust)."""
    limits = (
        (report.recording_sid, 64),
        (report.account_sid, 64),
        (report.call_sid, 128),
        (report.conference_sid, 64),
        (report.status, 32),
        (report.source, 64),
        (report.track, 32),
        (report.error_code, 32),
    )
    if not report.recording_sid or not report.account_sid:
        return False
    for value, longest in limits:
        if value is not None and (len(value) > longest or "\x00" in value):
            return False
    return report.media_url is None or "\x00" not in report.media_url


def _decide(report: RecordingReport, known: ArchiveState | None) -> str:
    if not _sane(report):
        return MALFORMED
    if report.status in STILL_MAKING:
        return STILL_PROCESSING
    if report.status not in (RecordingStatus.COMPLETED, *NO_MEDIA):
        return SKIPPED
    if known is ArchiveState.DONE:
        return ARCHIVED
    if known not in (None, ArchiveState.WAITING):
        return KNOWN
    if report.status == RecordingStatus.COMPLETED:
        return QUEUED if report.media_url else MALFORMED
    return NO_MEDIA_RECORDED


def reconcile_page(
    session: Session, provider: str, reports: list[RecordingReport], *, dry_run: bool
) -> dict[str, int]:
    """Record one page of the listing; what became of each recording."""
    sids = [r.recording_sid for r in reports if r.recording_sid]
    known = dict(
        session.execute(
            select(Recording.recording_sid, Recording.archive_state).where(
                Recording.provider == provider, Recording.recording_sid.in_(sids)
            )
        ).all()
    )
    outcomes = dict.fromkeys(OUTCOMES, 0)
    writes = []
    # Recordings we already had get their call details too (those known from
    # before call details were kept, say): queuing is idempotent per recording.
    already_known = []
    for report in reports:
        outcome = _decide(report, known.get(report.recording_sid))
        outcomes[outcome] += 1
        if outcome in (QUEUED, NO_MEDIA_RECORDED):
            writes.append(report)
        elif outcome != MALFORMED and report.recording_sid in known:
            already_known.append(report)
    if not dry_run:
        now = utcnow()
        record_reports(session, writes, now)
        queue_call_details(session, already_known, now)
    return outcomes


def _prefetched(
    pages: Iterator[list[RecordingReport]], stop: threading.Event | None, ahead: int = 2
) -> Generator[Any, None, None]:
    """The provider's pages, fetched on a thread up to ``ahead`` pages early.

    Ends early, between pages, once ``stop`` is set. Both sides wait in short
    slices that look at the flags: the fetcher never blocks on a reader that
    is gone (closing this generator, which ``reconcile`` always does, sets
    ``ended``), and the reader is not held by a slow page once asked to stop.
    """
    box: queues.Queue[Any] = queues.Queue(maxsize=ahead)
    ended = threading.Event()  # ours, so ending a run never sets the caller's flag
    done = object()

    def stopping() -> bool:
        return ended.is_set() or (stop is not None and stop.is_set())

    def hand_over(item: Any) -> None:
        while not stopping():
            try:
                box.put(item, timeout=SLICE_SECONDS)
                return
            except queues.Full:
                continue

    def fetch() -> None:
        try:
            for page in pages:
                hand_over(page)
                if stopping():
                    return
            hand_over(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, who raises it
            hand_over(exc)

    thread = threading.Thread(target=fetch, name="reconcile-pages", daemon=True)
    thread.start()
    try:
        while not stopping():
            try:
                item = box.get(timeout=SLICE_SECONDS)
            except queues.Empty:
                continue
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        ended.set()


class Reconciliation:
    """One provider's listing, walked and recorded a page at a time.

    ``step`` records the next page and returns, so a worker can reconcile a few
    pages, archive a recording, and come back (``reconcile`` walks it all in one
    go). Always ``close`` it: the fetcher then stops waiting for a reader.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        api: ProviderApi,
        since: dt.datetime,
        until: dt.datetime | None = None,
        *,
        dry_run: bool = False,
        page_size: int = PAGE_SIZE,
        stop: threading.Event | None = None,
        account: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.api = api
        self.dry_run = dry_run
        self.stop = stop
        self.summary = Summary(api.name, dry_run, account=account)
        self._started = time.perf_counter()
        self._pages = _prefetched(api.list_recordings(since, until, page_size), stop)

    def step(self) -> bool:
        """Record the next page; False once the listing is through or ``stop`` is
        set (then ``summary.stopped``). Raises ProviderError when the listing fails."""
        summary = self.summary
        if not (self.stop is not None and self.stop.is_set()):
            waited = time.perf_counter()
            page = next(self._pages, None)
            summary.waiting_seconds += time.perf_counter() - waited
            if page is not None:
                with transaction(self.sessions) as session:
                    outcomes = reconcile_page(session, self.api.name, page, dry_run=self.dry_run)
                summary.pages += 1
                summary.listed += len(page)
                summary.add(outcomes)
                summary.seconds = time.perf_counter() - self._started
                return True
        summary.stopped = self.stop is not None and self.stop.is_set()
        summary.seconds = time.perf_counter() - self._started
        return False

    def close(self) -> None:
        self._pages.close()


def reconcile(
    sessions: sessionmaker[Session],
    api: ProviderApi,
    since: dt.datetime,
    until: dt.datetime | None = None,
    *,
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[Summary], None] | None = None,
    stop: threading.Event | None = None,
    account: str | None = None,
) -> Summary:
    """List ``api``'s recordings created in ``[since, until)`` and record what the
    callbacks missed. Raises ProviderError when the listing fails.

    Once ``stop`` is set (the worker asked to shut down), the run ends between
    pages; ``Summary.stopped`` then says it did not get through the listing.
    """
    walk = Reconciliation(
        sessions,
        api,
        since,
        until,
        dry_run=dry_run,
        page_size=page_size,
        stop=stop,
        account=account,
    )
    try:
        while walk.step():
            if on_page is not None:
                on_page(walk.summary)
    finally:
        # Whatever ended the run (the end, a stop, an error writing a page): the
        # fetcher must not wait for a reader that is gone.
        walk.close()
    return walk.summary


# Which accounts' listings go first: a closed Twilio subaccount is deleted,
# recordings and all, 30 days after it closes, so its recordings are the most
# at risk; then the active ones (the main account first), then suspended ones.
STATUS_PRIORITY = {"closed": 0, "active": 1, "suspended": 2}


def account_label(listing: AccountListing) -> str:
    """``AC… (friendly name, status)``, as the summary names the account."""
    details = ", ".join(part for part in (listing.friendly_name, listing.status) if part)
    return f"{listing.account_sid} ({details})" if details else listing.account_sid


def account_walks(
    api: ProviderApi, sessions: sessionmaker[Session] | None = None
) -> list[tuple[str | None, ProviderApi]]:
    """Each account of ``api`` to reconcile, labelled, in the order to walk them
    (closed first); the client alone, unlabelled, when it has no subaccounts.
    With ``sessions``, the accounts' names and statuses are kept for the console.
    Raises ProviderError when the list of accounts cannot be had."""
    listings = api.account_listings() if isinstance(api, ListsAccounts) else []
    if not listings:
        return [(None, api)]
    if sessions is not None:
        with transaction(sessions) as session:
            accounts.remember(session, api.name, listings)
    ordered = sorted(listings, key=lambda item: STATUS_PRIORITY.get(item.status or "", 3))
    return [(account_label(item), item.api) for item in ordered]


def period_start(now: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the period ``now`` falls in: periods of ``every`` laid end to
    end from the epoch, so every worker on every machine names the same one."""
    return now - (now - EPOCH) % every


def claim_scheduled_run(
    session: Session,
    every: dt.timedelta,
    now: dt.datetime,
    owner: str = "",
    lease: dt.timedelta = PERIOD_LEASE,
) -> items.WorkClaim | None:
    """The reconciliation period this caller runs now, or None: exactly one caller
    wins each period, across every worker on every machine.

    The current period's item is added only once none is pending, so a period
    that keeps failing is retried (it reconciles the look-back window up to the
    time it runs) rather than piling up behind new ones.
    """
    if not items.has_pending(session, RECONCILE_KIND):
        start = period_start(now, every)
        if items.enqueue(session, RECONCILE_KIND, start.isoformat(), start):
            items.prune(session, RECONCILE_KIND, now - KEEP_FINISHED_PERIODS)
    return items.claim(session, RECONCILE_KIND, owner, lease, now)


__all__ = [
    "ProviderError",
    "Reconciliation",
    "Summary",
    "account_walks",
    "claim_scheduled_run",
    "reconcile",
]
