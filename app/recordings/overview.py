"""The overview's figures, read at most every few seconds.

Counting a million recordings by state and summing their sizes takes the
database a quarter of a second; an operator does not need it fresher than
half a minute. So each web worker keeps the last figures, hands them out at
once, and refreshes them in the background when they are older than
``FRESH_SECONDS``. Figures older than twice that (nobody looked for a while:
the background refresh would hand out the last visitor's figures, however old)
are read afresh before the page is answered, so a page never shows figures
more than a minute old, and says how old they are.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.recordings import queries

log = logging.getLogger(__name__)
FRESH_SECONDS = 30.0


@dataclass(frozen=True)
class Figures:
    overview: queries.Overview
    taken: float  # time.time() when read


class OverviewCache:
    def __init__(
        self, sessions: sessionmaker[Session], fresh_seconds: float = FRESH_SECONDS
    ) -> None:
        self.sessions = sessions
        self.fresh_seconds = fresh_seconds
        self._figures: Figures | None = None
        self._refreshing = threading.Lock()

    def _read(self) -> Figures:
        with self.sessions() as session:
            figures = Figures(queries.overview(session), time.time())
        self._figures = figures
        return figures

    def _refresh_in_background(self) -> None:
        if not self._refreshing.acquire(blocking=False):
            return  # one refresh at a time

        def refresh() -> None:
            try:
                self._read()
            except SQLAlchemyError as exc:
                log.warning("refreshing the admin overview failed: %s", type(exc).__name__)
            finally:
                self._refreshing.release()

        threading.Thread(target=refresh, name="admin-overview", daemon=True).start()

    def get(self) -> Figures:
        figures = self._figures
        if figures is None:
            return self._read()
        age = time.time() - figures.taken
        if age > 2 * self.fresh_seconds:
            return self._read()
        if age > self.fresh_seconds:
            self._refresh_in_background()
        return figures

    def invalidate(self) -> None:
        """After an action that changed states: the next page reads afresh."""
        self._figures = None
