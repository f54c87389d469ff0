"""The store interface, and the confirmation every store applies to its copy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class StorageError(RuntimeError):
    """The store refused or failed; worth retrying later."""


class StoreUnavailable(StorageError):
    """The store is away or overloaded: nothing about this object; try again later."""


class ArchiveMismatch(StorageError):
    """The store does not hold exactly the bytes we sent (or holds nothing)."""


class RetentionUnsupported(StorageError):
    """The store cannot keep objects write-once (no Object Lock): the message says why."""


@dataclass(frozen=True)
class ReadBack:
    """Every byte of a stored object read back: how many, and their SHA-256."""

    size: int
    sha256: str


# Told how many bytes were just read; it may wait (the scrub's byte-rate ceiling)
# or raise to stop the read.
Pace = Callable[[int], None]


@dataclass(frozen=True)
class StoredObject:
    """What the store says it holds under a key."""

    size: int
    metadata: Mapping[str, str]
    content_type: str | None
    etag: str | None = None
    sha256: str | None = None  # hex, when the store computed one itself


class UploadCheck(Protocol):
    """A digest a store wants computed over the bytes as they stream by."""

    def update(self, data: bytes) -> None: ...


class ArchiveStore(Protocol):
    """Put a stream under a key; say what is stored there; confirm it is ours."""

    @property
    def location(self) -> str:
        """The bucket (or folder) name recorded with each archived recording."""
        ...

    def new_upload_check(self, size: int | None = None) -> UploadCheck | None:
        """A digest to feed with the bytes of the next upload, if the store wants one;
        ``size``, the upload's length when it is known beforehand."""
        ...

    def put_stream(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str,
        metadata: Mapping[str, str],
        size: int | None = None,
        sha256: str | None = None,
    ) -> dt.datetime | None:
        """Store everything ``stream.read`` yields under ``key``, in one write
        (metadata and retention included: nothing is added to it afterwards).

        ``size`` and ``sha256``, when given, are the stream's length and digest,
        for a store that can have them checked as it writes; the stream is then
        seekable (a store may rewind it to send it again). Returns the end of
        the retention it was written with (Object Lock), or None. An exception
        raised by ``stream`` itself comes out unchanged.
        """
        ...

    def check_retention(self) -> None:
        """RetentionUnsupported when retention is asked for and the store cannot keep it."""
        ...

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Set or lift the store's legal hold on ``key``; RetentionUnsupported
        when the store has no legal holds."""
        ...

    def read_back(self, key: str, pace: Pace | None = None) -> ReadBack | None:
        """Read every byte of ``key`` back, streaming; None when nothing is there."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """What is stored under ``key``, or None."""
        ...

    def exists(self, key: str) -> bool:
        """Whether anything is stored under ``key`` (cheap: no digest)."""
        ...

    def probe(self) -> None:
        """Return when the store answers; StoreUnavailable when it does not."""
        ...

    def presigned_url(
        self, key: str, seconds: int, *, download_name: str | None = None
    ) -> str | None:
        """A short-lived URL to fetch the object, or None when the app must serve it."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's file, for a store on local disk (the app serves it)."""
        ...

    def confirm(
        self, key: str, size: int, sha256: str, check: UploadCheck | None = None
    ) -> StoredObject:
        """Raise ArchiveMismatch unless ``key`` holds exactly these bytes.

        ``check`` is this upload's own digest (from ``new_upload_check``);
        without it (a copy made by an earlier try) size and digests decide.
        """
        ...


def confirm_common(stored: StoredObject | None, key: str, size: int, sha256: str) -> StoredObject:
    """What every store checks: the object is there, of our size, with our digest."""
    if stored is None:
        raise ArchiveMismatch(f"{key} is not in the store after the upload")
    if stored.size != size:
        raise ArchiveMismatch(f"{key} holds {stored.size} bytes, expected {size}")
    if stored.sha256 is not None and stored.sha256 != sha256:
        raise ArchiveMismatch(f"{key} SHA-256 {stored.sha256} does not match {sha256}")
    if stored.metadata.get("sha256") != sha256:
        raise ArchiveMismatch(f"{key} metadata sha256 does not match the bytes sent")
    return stored
