"""A recording as the API shows it (the contract's field names)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.api.params import STATE_NAMES
from app.recordings.models import Recording


def _when(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def recording_json(recording: Recording) -> dict[str, Any]:
    # Fields the call details, integrity and encryption work add to the row; until a
    # row has them they are null (unknown), never invented.
    extra = {
        name: getattr(recording, attribute, None)
        for name, attribute in (
            ("from", "from_number"),
            ("to", "to_number"),
            ("direction", "direction"),
        )
    }
    return {
        "sid": recording.recording_sid,
        "provider": recording.provider,
        "account_sid": recording.account_sid,
        "call_sid": recording.call_sid,
        "conference_sid": recording.conference_sid,
        **extra,
        "started_at": _when(recording.started_at),
        "duration": recording.duration_seconds,
        "channels": recording.archived_channels or recording.channels,
        "state": STATE_NAMES[recording.archive_state],
        "bucket": recording.bucket,
        "key": recording.key,
        "size": recording.size_bytes,
        "sha256": recording.sha256,
        "archived_at": _when(recording.archived_at),
        "original_deleted_at": _when(recording.original_deleted_at),
        "legal_hold": bool(recording.legal_hold),
        "retain_until": _when(recording.retain_until),
        "integrity": recording.integrity.value,
        "encrypted": recording.encrypted,
    }
