"""Decrypting an archived recording made with Twilio's Voice Recording Encryption.

The archive holds the bytes as Twilio served them (encrypted); this turns one
back into audio with the account's private key, for the ``decrypt`` command.
The plaintext goes to a file beside ``out`` (readable by its owner only) and
takes ``out``'s name only once the AES-GCM tag has verified: a changed object
leaves nothing behind, and an earlier file at ``out`` stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.providers.encryption import (
    DecryptionRefused,
    decrypt_stream,
    parse_encryption_details,
    unwrap_content_key,
)
from app.recordings.models import Recording
from app.storage import ArchiveStore, StorageError
from app.storage.reading import open_archived


@dataclass(frozen=True)
class Decrypted:
    key: str
    public_key_sid: str
    size: int  # bytes of audio written


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#1 or PKCS#8, without a passphrase)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise DecryptionRefused(
            "the private key is protected by a passphrase: write an unprotected copy "
            "somewhere safe first (openssl pkey -in KEY -out PLAIN)"
        ) from None
    except ValueError:
        raise DecryptionRefused("the private key file is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DecryptionRefused("the private key is not an RSA key")
    return key


def decrypt_recording(
    session: Session,
    store: ArchiveStore,
    recording_sid: str,
    private_key: rsa.RSAPrivateKey,
    out: Path,
    timeouts: tuple[float, float] = (10.0, 30.0),
) -> Decrypted:
    """Write the plain audio of the archived ``recording_sid`` to ``out``;
    DecryptionRefused (or StorageError) saying why not, with nothing written."""
    rows = (
        session.execute(select(Recording).where(Recording.recording_sid == recording_sid))
        .scalars()
        .all()
    )
    if not rows:
        raise DecryptionRefused(f"no recording {recording_sid} is known here")
    if len(rows) > 1:
        raise DecryptionRefused(f"{recording_sid} names recordings of several providers")
    recording = rows[0]
    if not recording.key:
        raise DecryptionRefused(f"{recording_sid} is not archived yet")
    if recording.encryption_details is None:
        if recording.encryption_details_unparsed is not None:
            raise DecryptionRefused(
                f"{recording_sid}'s encryption details could not be read when they came; "
                "the callback as received is on its console page"
            )
        raise DecryptionRefused(f"{recording_sid} is not encrypted: download it as it is")
    details = parse_encryption_details(recording.encryption_details)
    cek = unwrap_content_key(private_key, details)
    out = out.absolute()
    descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    try:
        with (
            os.fdopen(descriptor, "wb") as target,
            open_archived(store, recording.key, timeouts) as source,
        ):
            size = decrypt_stream(source, target, cek, details)
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return Decrypted(recording.key, details.public_key_sid, size)


__all__ = [
    "Decrypted",
    "DecryptionRefused",
    "StorageError",
    "decrypt_recording",
    "load_private_key",
]
