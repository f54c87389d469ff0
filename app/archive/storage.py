"""Where archived recordings go: one small interface, an S3 and a local folder.

``make_store`` picks one from the settings; nothing else in the code knows
which is in use. Both take a stream (never the whole file), and both report
back what they hold so the worker can confirm the copy before anything is
deleted at the provider.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from app.config import Settings

log = logging.getLogger(__name__)

# Part size for multipart uploads. The worker's memory is bounded by about
# PART_SIZE * (UPLOAD_THREADS + 2): the parts in flight, one queued, one read.
PART_SIZE = 8 * 1024 * 1024
UPLOAD_THREADS = 4


class StorageError(RuntimeError):
    """The store refused or failed; worth retrying later."""


@dataclass(frozen=True)
class StoredObject:
    """What the store says it holds under a key."""

    size: int
    metadata: Mapping[str, str]
    content_type: str | None
    etag: str | None = None
    sha256: str | None = None  # hex, when the store computed one itself


class ArchiveStore(Protocol):
    """Put a stream under a key; say what is stored there."""

    @property
    def location(self) -> str:
        """The bucket (or folder) name recorded with each archived recording."""
        ...

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        """Store everything ``stream.read`` yields under ``key``."""
        ...

    def set_metadata(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> None:
        """Replace the object's metadata (the digest is only known after the upload)."""
        ...

    def stat(self, key: str) -> StoredObject | None:
        """What is stored under ``key``, or None."""
        ...


def make_store(settings: Settings) -> ArchiveStore:
    if settings.s3_bucket:
        return S3Store(settings)
    return LocalStore(Path(settings.local_archive_dir))


class S3Store:
    """An S3 bucket (AWS or any S3-compatible endpoint), through boto3's managed transfer."""

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket
        self.bucket = settings.s3_bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            config=BotoConfig(
                # Path-style works everywhere (SeaweedFS, MinIO); AWS still accepts it.
                s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=settings.http_connect_timeout,
                read_timeout=settings.http_read_timeout,
                # Only send/validate checksums when an operation requires them:
                # S3-compatible stores vary in what they accept.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.sse: dict[str, str] = {}
        if settings.s3_sse:
            self.sse["ServerSideEncryption"] = settings.s3_sse
            if settings.s3_kms_key_id:
                self.sse["SSEKMSKeyId"] = settings.s3_kms_key_id
        self.transfer = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=UPLOAD_THREADS,
            use_threads=True,
        )
        # s3transfer buffers up to this many parts read from a non-seekable
        # stream (default 10); a few more than the threads keeps them busy.
        self.transfer.max_in_memory_upload_chunks = UPLOAD_THREADS

    @property
    def location(self) -> str:
        return self.bucket

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": dict(metadata)}
        extra.update(self.sse)
        try:
            self.client.upload_fileobj(
                stream, self.bucket, key, ExtraArgs=extra, Config=self.transfer
            )
        except ClientError as exc:
            raise StorageError(f"S3 upload of {key} failed: {_describe(exc)}") from exc

    def set_metadata(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> None:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "CopySource": {"Bucket": self.bucket, "Key": key},
            "MetadataDirective": "REPLACE",
            "ContentType": content_type,
            "Metadata": dict(metadata),
            **self.sse,
        }
        try:
            # Asking for SHA-256 on the copy makes S3 compute the whole object's
            # digest itself, which `stat` then reports for us to compare.
            self.client.copy_object(**args, ChecksumAlgorithm="SHA256")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("NotImplemented", "InvalidArgument", "InvalidRequest"):
                raise StorageError(f"S3 metadata update of {key} failed: {_describe(exc)}") from exc
            log.info("the store refused a checksum on CopyObject (%s); copying without", code)
            try:
                self.client.copy_object(**args)
            except ClientError as retry_exc:
                raise StorageError(
                    f"S3 metadata update of {key} failed: {_describe(retry_exc)}"
                ) from retry_exc

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"S3 HeadObject of {key} failed: {_describe(exc)}") from exc
        return StoredObject(
            size=int(head["ContentLength"]),
            metadata=head.get("Metadata", {}),
            content_type=head.get("ContentType"),
            etag=(head.get("ETag") or "").strip('"') or None,
            sha256=_full_object_sha256(head),
        )


def _full_object_sha256(head: Mapping[str, Any]) -> str | None:
    """The store's own SHA-256 of the whole object, when it reports one.

    A multipart object's checksum is a checksum of part checksums ("...-N" or
    ChecksumType COMPOSITE); that is not comparable to ours, so it is skipped.
    """
    value = head.get("ChecksumSHA256")
    if not value or "-" in value or head.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return None


def _describe(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"{error.get('Code', 'error')} (HTTP {status}): {error.get('Message', '')}".strip()


class LocalStore:
    """A folder on local disk: the embedded default for trying the service out.

    Each object is written to a temporary file in the same folder, flushed to
    disk and renamed into place, so a key never holds a partial file. Metadata
    sits beside it in ``<name>.meta.json``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(f"key {key!r} escapes the archive folder")
        return path

    def _write_atomically(self, path: Path, chunks: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_stream(
        self, key: str, stream: BinaryIO, *, content_type: str, metadata: Mapping[str, str]
    ) -> None:
        path = self._path(key)

        def chunks() -> Any:
            while chunk := stream.read(1024 * 1024):
                yield chunk

        try:
            self._write_atomically(path, chunks())
        except OSError as exc:
            raise StorageError(f"writing {path} failed: {exc}") from exc
        self.set_metadata(key, content_type=content_type, metadata=metadata)

    def set_metadata(self, key: str, *, content_type: str, metadata: Mapping[str, str]) -> None:
        meta = {"content_type": content_type, "metadata": dict(metadata)}
        path = self._path(key)
        meta_path = path.with_name(path.name + ".meta.json")
        try:
            self._write_atomically(meta_path, [json.dumps(meta, indent=2).encode()])
        except OSError as exc:
            raise StorageError(f"writing {meta_path} failed: {exc}") from exc

    def stat(self, key: str) -> StoredObject | None:
        path = self._path(key)
        if not path.exists():
            return None
        digest = hashlib.sha256()
        # Read back what is on disk: the local store's "checksum it reports".
        with path.open("rb") as f:
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
        meta_path = path.with_name(path.name + ".meta.json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        return StoredObject(
            size=path.stat().st_size,
            metadata=meta.get("metadata", {}),
            content_type=meta.get("content_type"),
            sha256=digest.hexdigest(),
        )
