"""Which archive state each provider status leads to."""

from __future__ import annotations

import pytest

from app.recordings.lifecycle import MOVES, archive_state_for, sources_of
from app.recordings.models import ArchiveState


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("completed", ArchiveState.QUEUED),
        ("absent", ArchiveState.NO_MEDIA),
        ("failed", ArchiveState.NO_MEDIA),
        ("in-progress", ArchiveState.WAITING),
        ("something-new", ArchiveState.WAITING),
    ],
)
def test_each_status_maps_to_an_archive_state(status, state):
    assert archive_state_for(status) is state


def test_every_state_has_its_moves_written_down():
    assert set(MOVES) == set(ArchiveState)
    assert sources_of(ArchiveState.QUEUED) == [
        ArchiveState.WAITING,
        ArchiveState.RUNNING,
        ArchiveState.FAILED,
        ArchiveState.DONE,
    ]
