"""Twilio subaccounts' auth tokens: looked up with the main credentials, kept in memory.

A subaccount's callbacks are signed with that subaccount's own auth token, which
the main account reads with ``GET /2010-04-01/Accounts/{Sid}.json`` (the answer
also gives ``owner_account_sid``: the account is ours only when that is the main
account). ``SubaccountKeys`` keeps what each look-up said, per process:

- a subaccount's token is kept until a signature does not match it; then it is
  looked up once more (a rotated token) at once, and after that at most once per
  ``RELOOK_SECONDS`` per account, so forged callbacks cannot make us hammer
  Twilio's API (a mismatch in between is refused with the kept token);
- "not ours" (another owner, or Twilio does not show it to us) is kept for
  ``NOT_OURS_SECONDS``: a foreign account's callbacks cost one look-up per
  process in that time, however many it sends;
- concurrent callbacks of one account share one look-up (a lock per account:
  gunicorn's gevent patches ``threading``, so waiting greenlets yield);
- look-ups of accounts not yet known are limited overall (``LookupBudget``), so
  forged callbacks naming ever new SIDs cannot either;
- when the look-up gets no answer (Twilio's API down or slow), the callback
  cannot be checked: ``SigningKeyUnavailable`` (a 503, nothing stored), kept for
  ``UNAVAILABLE_SECONDS`` so a burst makes one look-up. Main-account callbacks
  never come here.

Why memory and not the database: one look-up per subaccount per web process
is a handful of requests (10 subaccounts x 2 gunicorn workers = 20), and a
token kept only in memory is one copy fewer of a secret at rest. Tokens are
never logged nor shown (``repr`` hides them).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.providers.errors import ProviderError, SigningKeyUnavailable
from app.providers.twilio_api import TwilioApi
from app.telemetry import ACCOUNT_LOOKUPS

log = logging.getLogger(__name__)

RELOOK_SECONDS = 60.0
NOT_OURS_SECONDS = 600.0
UNAVAILABLE_SECONDS = 5.0
# The look-up waits inside a callback's request: Twilio gives up on it after 15 s.
LOOKUP_TIMEOUTS = (3.0, 5.0)
# Look-ups of accounts not yet known, per process: a burst, then a steady rate.
LOOKUP_BURST = 100
LOOKUPS_PER_SECOND = 10.0
# What is worth a look-up: Twilio writes SIDs in lower-case hex, so the same SID
# in other cases (2^32 spellings that would each miss the "not ours" answer) is
# checked with the main token, and refused.
LOOKED_UP_SID = re.compile(r"AC[0-9a-f]{32}")
# Past this many accounts kept, answers that have aged out are dropped: forged
# callbacks naming ever new SIDs must not grow the process's memory without end
# (at LOOKUPS_PER_SECOND, at most about 6,000 "not ours" answers are fresh).
PRUNE_AT = 10_000


@dataclass
class _Known:
    """What the last look-up of one account said."""

    ours: bool
    token: str | None = field(default=None, repr=False)
    friendly_name: str | None = None
    status: str | None = None
    looked_at: float = 0.0
    unavailable: bool = False  # the look-up got no answer
    relooked_at: float | None = None  # the last look-up made after a mismatch


class LookupBudget:
    """A token bucket: ``burst`` look-ups at once, then ``rate`` per second."""

    def __init__(self, burst: int, rate: float, clock: Callable[[], float]) -> None:
        self.burst = float(burst)
        self.rate = rate
        self.clock = clock
        self._left = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self._left = min(self.burst, self._left + (now - self._at) * self.rate)
            self._at = now
            if self._left < 1:
                return False
            self._left -= 1
            return True


class SubaccountKeys:
    """The auth tokens of the main account's subaccounts, as callbacks need them."""

    def __init__(self, api: TwilioApi, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.clock = clock
        self.budget = LookupBudget(LOOKUP_BURST, LOOKUPS_PER_SECOND, clock)
        self._known: dict[str, _Known] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SubaccountKeys of {self.api.account_sid}: {len(self._known)} known>"

    def covers(self, account_sid: str) -> bool:
        """Whether callbacks naming ``account_sid`` are checked here (a well-formed
        SID other than the main account's)."""
        return account_sid != self.api.account_sid and bool(LOOKED_UP_SID.fullmatch(account_sid))

    def serves(self, account_sid: str) -> bool:
        """Whether ``account_sid`` is known to be a subaccount of ours (no look-up)."""
        known = self._known.get(account_sid)
        return known is not None and known.ours

    def friendly_name(self, account_sid: str) -> str | None:
        known = self._known.get(account_sid)
        return known.friendly_name if known is not None and known.ours else None

    def token_for(self, account_sid: str) -> str | None:
        """The subaccount's auth token (looked up when not known yet); None when the
        account is not ours. Raises SigningKeyUnavailable when Twilio does not answer."""
        known = self._current(account_sid)
        return known.token if known.ours else None

    def verify(self, account_sid: str, check: Callable[[str], str | None]) -> str | None:
        """Why a callback of ``account_sid`` does not prove it came from that subaccount
        of ours (``check`` says it for one token), or None."""
        known = self._current(account_sid)
        if not known.ours or not known.token:
            return "AccountSid is not a subaccount of TWILIO_ACCOUNT_SID"
        problem = check(known.token)
        if problem is None:
            return None
        # A token rotated since we looked? Once more, but not on every forged callback.
        relooked = self._look_again(account_sid, known.token)
        if relooked is None or not relooked.ours or not relooked.token:
            return problem
        return check(relooked.token)

    # -- the look-ups -------------------------------------------------------------------

    def _lock(self, account_sid: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(account_sid, threading.Lock())

    def _fresh(self, known: _Known | None) -> bool:
        if known is None:
            return False
        age = self.clock() - known.looked_at
        if known.unavailable:
            return age < UNAVAILABLE_SECONDS
        return known.ours or age < NOT_OURS_SECONDS

    def _current(self, account_sid: str) -> _Known:
        known = self._known.get(account_sid)
        if not self._fresh(known):
            with self._lock(account_sid):  # one look-up; the others wait for its answer
                known = self._known.get(account_sid)
                if not self._fresh(known):
                    if not self.budget.take():
                        raise SigningKeyUnavailable(
                            "too many unknown AccountSids to look up just now; try again",
                            UNAVAILABLE_SECONDS,
                        )
                    known = self._known[account_sid] = self._look_up(account_sid)
            if len(self._known) > PRUNE_AT:
                self._prune()
        assert known is not None
        if known.unavailable:
            raise SigningKeyUnavailable(
                "the Twilio API did not answer the look-up of this AccountSid's auth token; "
                "nothing was stored, try again",
                UNAVAILABLE_SECONDS,
            )
        return known

    def _prune(self) -> None:
        """Forget the answers that are no longer fresh (subaccounts' tokens stay)."""
        with self._locks_lock:
            for sid in [sid for sid, known in self._known.items() if not self._fresh(known)]:
                del self._known[sid]
                self._locks.pop(sid, None)

    def _look_again(self, account_sid: str, token: str) -> _Known | None:
        """A new look-up after a mismatch, or None when the last re-look-up of this
        account was too recent. When Twilio does not answer, the kept token stays."""
        with self._lock(account_sid):
            known = self._known.get(account_sid)
            if known is not None and known.token != token:
                return known  # another callback already looked again
            now = self.clock()
            last = known.relooked_at if known is not None else None
            if last is not None and now - last < RELOOK_SECONDS:
                return None
            fresh = self._look_up(account_sid)
            fresh.relooked_at = now
            if fresh.unavailable:
                if known is not None:
                    known.relooked_at = now
                raise SigningKeyUnavailable(
                    "the signature does not match the kept auth token and the Twilio API did "
                    "not answer a fresh look-up; nothing was stored, try again",
                    UNAVAILABLE_SECONDS,
                )
            self._known[account_sid] = fresh
            return fresh

    def _look_up(self, account_sid: str) -> _Known:
        """Ask Twilio (called under the account's lock) what the account is."""
        now = self.clock()
        try:
            account = self.api.fetch_account(account_sid, timeouts=self._timeouts())
        except ProviderError as exc:
            log.warning("look-up of Twilio account %s failed: %s", account_sid, exc.message)
            known = _Known(ours=False, looked_at=now, unavailable=True)
            ACCOUNT_LOOKUPS.labels("unanswered").inc()
        else:
            ours = (
                account is not None
                and account.sid == account_sid
                and account.owner_account_sid == self.api.account_sid
                and bool(account.auth_token)
            )
            if ours and account is not None:
                known = _Known(True, account.auth_token, account.friendly_name, account.status, now)
                ACCOUNT_LOOKUPS.labels("subaccount").inc()
                log.info("Twilio subaccount %s (%s) looked up", account_sid, account.status)
            else:
                known = _Known(ours=False, looked_at=now)
                ACCOUNT_LOOKUPS.labels("not_ours").inc()
                log.info(
                    "Twilio account %s is not a subaccount of TWILIO_ACCOUNT_SID; its callbacks "
                    "are refused (asked again after %.0f s)",
                    account_sid,
                    NOT_OURS_SECONDS,
                )
        return known

    def _timeouts(self) -> tuple[float, float]:
        connect, read = self.api.timeouts
        return min(connect, LOOKUP_TIMEOUTS[0]), min(read, LOOKUP_TIMEOUTS[1])


@functools.cache
def subaccount_keys(
    api_base_url: str, account_sid: str, auth_token: str, timeouts: tuple[float, float]
) -> SubaccountKeys:
    """This process's keeper for one main account (one per configuration: tests
    build apps with different settings in one process)."""
    api = TwilioApi(
        name="twilio",
        api_base_url=api_base_url,
        account_sid=account_sid,
        auth_token=auth_token,
        timeouts=timeouts,
        subaccounts=True,
    )
    return SubaccountKeys(api)
