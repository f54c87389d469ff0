"""The call-details look-up: a recording's call fetched at the provider, kept on it.

Work of its own (kind ``call_details``, one item per recording, queued by
``app.recordings.reports`` when the recording is first seen), taking its turn
in the worker loop beside archiving and reconciliation. It reads and writes
only the call-details columns, never the archive's, so however a look-up goes
(slow, failing, given up) the archive is neither delayed, failed nor re-run.

A try's failure is retried with backoff (``FIRST_RETRY`` doubling, at most
``MAX_TRIES`` tries); one that cannot succeed (the provider has no such
call, a refused credential, a recording with no call) gives up at once. A
recording whose look-up was given up shows "call details unavailable" and why.

Nothing here logs a phone number: the log says which recording, not whose call.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import transaction, utcnow
from app.providers import PROVIDERS
from app.providers.base import CallDetails, ProviderApi
from app.providers.errors import ProviderError
from app.recordings import phones
from app.recordings.models import CallDetailsState, Recording
from app.recordings.reports import CALL_DETAILS_WORK
from app.telemetry import redact
from app.work import items as work
from app.work.items import WorkClaim

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)  # one GET, bounded by the HTTP time-outs
MAX_TRIES = 6
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_RETRY = dt.timedelta(hours=1)  # six tries span about 15 minutes
DIRECTION_MAX = 32  # the column's width


class Unavailable(Exception):
    """The look-up cannot succeed, whatever we try: the reason is for people."""


def store_details(
    session: Session, recording: Recording, details: CallDetails, region: str
) -> None:
    """Keep the call's details on every recording of that call (a call recorded
    twice is looked up once; the other recordings' items then find theirs done)."""
    caller = phones.normalise(details.from_number, region)
    called = phones.normalise(details.to_number, region)
    values = {
        "from_number": caller.value if caller else None,
        "from_digits_reversed": caller.digits_reversed if caller else None,
        "to_number": called.value if called else None,
        "to_digits_reversed": called.digits_reversed if called else None,
        "direction": (details.direction or None) and details.direction[:DIRECTION_MAX],
        "caller_name": details.caller_name,
        "call_details_state": CallDetailsState.DONE.value,
        "call_details_error": None,
    }
    session.execute(
        update(Recording)
        .where(
            Recording.provider == recording.provider,
            Recording.account_sid == recording.account_sid,
            Recording.call_sid == recording.call_sid,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def mark_unavailable(session: Session, recording_id: int, reason: str) -> None:
    session.execute(
        update(Recording)
        .where(Recording.id == recording_id)
        .values(
            call_details_state=CallDetailsState.UNAVAILABLE.value,
            call_details_error=redact(reason),
        )
        .execution_options(synchronize_session=False)
    )


class CallDetailsWork:
    """Claims one look-up at a time (``turn``), fetches it, keeps what it found."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], owner: str) -> None:
        self.settings = settings
        self.sessions = sessions
        self.owner = owner
        self.max_tries = MAX_TRIES
        self.first_retry = FIRST_RETRY
        self._apis: dict[str, ProviderApi | None] = {}

    def _api(self, provider: str) -> ProviderApi | None:
        if provider not in self._apis:
            declared = PROVIDERS.get(provider)
            self._apis[provider] = declared.api(self.settings) if declared else None
        return self._apis[provider]

    def turn(self) -> bool:
        """Look up one due call; whether there was one."""
        with transaction(self.sessions) as session:
            held = work.claim(session, CALL_DETAILS_WORK, self.owner, LEASE)
            if held is None:
                return False
            provider, _, recording_sid = held.key.partition(":")
            recording = session.execute(
                select(Recording).where(
                    Recording.provider == provider, Recording.recording_sid == recording_sid
                )
            ).scalar_one_or_none()
            if recording is None or recording.call_details_state == CallDetailsState.DONE.value:
                work.finish(session, held, result="nothing to look up" if recording is None else "")
                return True
            session.expunge(recording)
        try:
            details = self._fetch(recording)
        except Unavailable as exc:
            self._give_up(held, recording, str(exc))
            return True
        except ProviderError as exc:
            self._failed(held, recording, exc)
            return True
        with transaction(self.sessions) as session:
            store_details(session, recording, details, self.settings.default_phone_region)
            work.finish(session, held, result="found")
        log.info("call details of %s %s found", provider, recording_sid)
        return True

    def _fetch(self, recording: Recording) -> CallDetails:
        if not recording.call_sid:
            if recording.conference_sid:
                raise Unavailable(
                    "a conference recording: the conference's participants are not looked up"
                )
            raise Unavailable("the provider gave no CallSid for this recording")
        api = self._api(recording.provider)
        if api is None:
            raise ProviderError(
                f"{recording.provider} is not configured (its settings are missing)",
                retryable=True,
            )
        if not api.handles(recording.account_sid):
            raise Unavailable(f"account {recording.account_sid} is not one this deployment serves")
        return api.fetch_call(recording.account_sid, recording.call_sid)

    def _failed(self, held: WorkClaim, recording: Recording, exc: ProviderError) -> None:
        if not exc.retryable or held.tries >= self.max_tries:
            self._give_up(held, recording, exc.message)
            return
        wait = work.backoff(held.tries, self.first_retry, LONGEST_RETRY)
        if exc.retry_after is not None:
            wait = max(wait, dt.timedelta(seconds=min(exc.retry_after, LONGEST_RETRY.seconds)))
        log.warning(
            "call look-up of %s %s failed (try %d of %d): %s; again in %.0f s",
            recording.provider,
            recording.recording_sid,
            held.tries,
            self.max_tries,
            exc.message,
            wait.total_seconds(),
        )
        with transaction(self.sessions) as session:
            work.fail(session, held, redact(exc.message), utcnow() + wait)

    def _give_up(self, held: WorkClaim, recording: Recording, reason: str) -> None:
        log.warning(
            "call details of %s %s unavailable: %s",
            recording.provider,
            recording.recording_sid,
            reason,
        )
        with transaction(self.sessions) as session:
            mark_unavailable(session, recording.id, reason)
            work.fail(session, held, redact(reason), None)
