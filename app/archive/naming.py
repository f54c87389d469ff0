"""Where an archived recording goes (its key) and what it says about itself (metadata)."""

from __future__ import annotations

from app.config import Settings
from app.recordings.queue import Claim

CONTENT_TYPES = {"mp3": "audio/mpeg", "wav": "audio/x-wav"}


def build_key(settings: Settings, claim: Claim, ext: str) -> str:
    """The object key: unique to the recording, dated by its start (UTC)."""
    when = claim.started_at or claim.created_at
    return settings.s3_key_template.format(
        prefix=settings.s3_prefix,
        provider=claim.provider,
        account_sid=claim.account_sid,
        yyyy=f"{when.year:04d}",
        mm=f"{when.month:02d}",
        dd=f"{when.day:02d}",
        recording_sid=claim.recording_sid,
        call_sid=claim.call_sid or "no-call",
        ext=ext,
    )


def media_format(settings: Settings, claim: Claim) -> str:
    """The format to ask the provider for: Twilio serves an encrypted recording only
    as WAV (an .mp3 is refused, error 16109), whatever RECORDING_FORMAT says."""
    return "wav" if claim.encrypted else settings.recording_format


# Voice Recording Encryption details, under these metadata names. With an
# RSA-2048 key the wrapped CEK is 344 base64 characters and the whole metadata
# stays under 1 KB (S3 allows 2 KB of user metadata; 4096-bit keys, the
# largest the parser accepts, still fit).
ENCRYPTION_METADATA = {
    "type": "encryption-type",
    "public_key_sid": "encryption-public-key-sid",
    "encrypted_cek": "encryption-cek",
    "iv": "encryption-iv",
}


def object_metadata(claim: Claim, channels: int, sha256: str | None) -> dict[str, str]:
    metadata = {
        "provider": claim.provider,
        "recording-sid": claim.recording_sid,
        "call-sid": claim.call_sid or "",
        "account-sid": claim.account_sid,
        "channels": str(channels),
        "duration": "" if claim.duration_seconds is None else str(claim.duration_seconds),
        "started-at": claim.started_at.isoformat() if claim.started_at else "",
    }
    if claim.conference_sid:
        metadata["conference-sid"] = claim.conference_sid
    if claim.encryption_details:
        for field, name in ENCRYPTION_METADATA.items():
            metadata[name] = claim.encryption_details[field]
    elif claim.encryption_details_unparsed is not None:
        # Not copied: it may be anything (not ASCII, too long for metadata); the
        # callback as received is in the database.
        metadata["encryption-type"] = "unparsed"
    # The call's details when they were looked up before the upload. Learned
    # later, they stay in the database alone (the record): objects are not
    # rewritten for them. S3 metadata is ASCII; a value that is not is left out.
    for name, value in (
        ("from", claim.from_number),
        ("to", claim.to_number),
        ("direction", claim.direction),
    ):
        if value and value.isascii() and value.isprintable():
            metadata[name] = value
    if sha256:
        metadata["sha256"] = sha256
    return metadata
