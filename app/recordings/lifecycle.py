"""The archive states a recording goes through, and what may move it.

::

    waiting ──completed──▶ queued ──claim──▶ running ──▶ done
       │                     ▲                 │  │
       └─absent/failed─▶ no_media              │  └──last try──▶ failed
                             ▲──retry (backoff)┘                  │
                             ├──────────── retry-failed ──────────┘
                             └── archive again (done, object missing)

A provider's status only moves a recording forward (``STATUS_RANK``); only
a ``waiting`` recording changes archive state because of what the provider
says. From then on the archive owns the state.
"""

from __future__ import annotations

from app.providers.base import RecordingStatus
from app.recordings.models import ArchiveState

# A status may only move a recording forward. Unknown values rank 0: they are
# stored with the event but never change a recording that already exists.
STATUS_RANK = {
    RecordingStatus.IN_PROGRESS: 1,
    RecordingStatus.COMPLETED: 2,
    RecordingStatus.ABSENT: 2,
    RecordingStatus.FAILED: 2,
}

_STATE_FOR_STATUS = {
    RecordingStatus.COMPLETED: ArchiveState.QUEUED,
    RecordingStatus.ABSENT: ArchiveState.NO_MEDIA,
    RecordingStatus.FAILED: ArchiveState.NO_MEDIA,
}

# Every move of ``archive_state`` the code makes, from -> to.
MOVES: dict[ArchiveState, frozenset[ArchiveState]] = {
    ArchiveState.WAITING: frozenset({ArchiveState.QUEUED, ArchiveState.NO_MEDIA}),
    ArchiveState.QUEUED: frozenset({ArchiveState.RUNNING}),
    ArchiveState.RUNNING: frozenset(
        {ArchiveState.QUEUED, ArchiveState.DONE, ArchiveState.FAILED, ArchiveState.RUNNING}
    ),
    ArchiveState.FAILED: frozenset({ArchiveState.QUEUED}),
    # Archive again (the console): the stored object went missing, the provider
    # still has the original.
    ArchiveState.DONE: frozenset({ArchiveState.QUEUED}),
    ArchiveState.NO_MEDIA: frozenset(),
}


def archive_state_for(status: str) -> ArchiveState:
    """The archive state a recording enters when it first reaches ``status``."""
    return _STATE_FOR_STATUS.get(status, ArchiveState.WAITING)


def sources_of(target: ArchiveState) -> list[ArchiveState]:
    """The states a recording may reach ``target`` from."""
    return [state for state, targets in MOVES.items() if target in targets]
