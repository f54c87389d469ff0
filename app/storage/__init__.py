"""Where archived recordings go: one small interface, an S3 bucket or a local folder.

``make_store`` picks one from the settings; nothing else in the code knows
which is in use. Both take a stream (never the whole file), and both confirm
their own copy (size, digest, and whatever checksum the store reports)
before the archive lets anything be deleted at the provider. A store raises
only ``StorageError``.
"""

from __future__ import annotations

from app.config import Settings
from app.storage.base import (
    ArchiveMismatch,
    ArchiveStore,
    Pace,
    ReadBack,
    RetentionUnsupported,
    StorageError,
    StoredObject,
    StoreUnavailable,
    UploadCheck,
)


def make_store(settings: Settings) -> ArchiveStore:
    if settings.s3_bucket:
        from app.storage.s3 import S3Store

        return S3Store(settings)
    from app.storage.local import LocalStore

    return LocalStore(settings.local_archive_dir)


__all__ = [
    "ArchiveMismatch",
    "ArchiveStore",
    "Pace",
    "ReadBack",
    "RetentionUnsupported",
    "StorageError",
    "StoreUnavailable",
    "StoredObject",
    "UploadCheck",
    "make_store",
]
