"""An S3 bucket (AWS or any S3-compatible endpoint), through boto3's managed transfer."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import boto3
import urllib3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from app.config import Settings
from app.storage.base import (
    ArchiveMismatch,
    Pace,
    ReadBack,
    RetentionUnsupported,
    StorageError,
    StoredObject,
    StoreUnavailable,
    UploadCheck,
    confirm_common,
)

log = logging.getLogger(__name__)

# Part size for multipart uploads. The worker's memory is bounded by about
# PART_SIZE * (UPLOAD_THREADS + 2): the parts in flight, one queued, one read.
PART_SIZE = 8 * 1024 * 1024
UPLOAD_THREADS = 4
READ_BACK_CHUNK = 1024 * 1024
MIB = 1024 * 1024

# What S3 (and SeaweedFS) answers a lock or legal-hold request on a bucket
# created without Object Lock.
_NO_OBJECT_LOCK = {
    "InvalidRequest",
    "InvalidBucketState",
    "ObjectLockConfigurationNotFoundError",
}
_NO_SUCH_KEY = {"404", "NoSuchKey", "NotFound"}


class EtagCheck:
    """The MD5 of each ``PART_SIZE`` part: what S3 builds an upload's ETag from."""

    def __init__(self, part_size: int = PART_SIZE) -> None:
        self.part_size = part_size
        self.part_md5s: list[bytes] = []
        self._part = hashlib.md5(usedforsecurity=False)
        self._fill = 0

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self._fill)
            self._part.update(view[:take])
            self._fill += take
            view = view[take:]
            if self._fill == self.part_size:
                self._close_part()

    def _close_part(self) -> None:
        self.part_md5s.append(self._part.digest())
        self._part = hashlib.md5(usedforsecurity=False)
        self._fill = 0

    def finish(self) -> list[bytes]:
        if self._fill:
            self._close_part()
        return self.part_md5s

    def matches(self, etag: str) -> bool | None:
        """Does an S3 ETag describe these bytes? None when it cannot say.

        A single-part upload's ETag is the MD5 of the bytes; a multipart one is
        the MD5 of the parts' MD5s, then ``-N``. Any other form (SSE-KMS, or a
        store's own scheme) proves nothing either way.
        """
        part_md5s = self.finish()
        head, _, parts = etag.partition("-")
        if len(head) != 32:
            return None
        if parts:
            combined = hashlib.md5(b"".join(part_md5s), usedforsecurity=False)
            return etag == f"{combined.hexdigest()}-{len(part_md5s)}"
        if len(part_md5s) == 1:
            return head == part_md5s[0].hex()
        return None  # a plain ETag on a multipart upload: the store copied it its own way


class Sha256Check:
    """The check of a single PUT: nothing to compute on the way in.

    The PUT carries our SHA-256 (``x-amz-checksum-sha256``); the store checks
    the body it receives against it, refuses the PUT when they differ, and
    reports it back on HEAD, which ``confirm`` compares. A store that keeps no
    checksum gets its object read back instead.
    """

    def update(self, data: bytes) -> None:
        return None


class _GuardedStream:
    """Remembers an exception the source stream raised, so it is not mistaken for S3's.

    Only ``read``: s3transfer then takes it for a stream and reads a multipart
    upload part by part into memory, as it always did here (a seekable source
    switches it to another way of reading).
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except BaseException as exc:
            self.error = exc
            raise


class _GuardedBody(_GuardedStream):
    """A single PUT's body: seekable, so botocore can rewind it to send it again."""

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


@contextlib.contextmanager
def _upload_failures(key: str, guarded: _GuardedStream) -> Iterator[None]:
    """An upload's failure as the archive sees it: the source stream's own error when
    it raised one (S3 only saw a broken body), else S3's, as a store failure."""
    try:
        yield
    except (ClientError, BotoCoreError, Boto3Error) as exc:
        if guarded.error is not None:
            raise guarded.error from None
        raise _failure(f"S3 upload of {key} failed: {_describe(exc)}", exc) from exc
    except BaseException:
        if guarded.error is not None:
            raise guarded.error from None
        raise


class S3Store:
    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket
        self.bucket = settings.s3_bucket
        self.client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, config=_client_config(settings)
        )
        # For the single PUT (see _put_once).
        self._put_client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            config=_client_config(settings, sign_payload=False),
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
        # Up to this size a recording of known size goes up in one PUT that carries
        # our SHA-256 (x-amz-checksum-sha256): the store checks the body against it
        # and refuses a PUT that does not match, so the download needs no MD5 of its
        # own (MD5 runs at ~400 MB/s here, a third of SHA-256's speed); and one PUT
        # from the spool was no slower to SeaweedFS than multipart (300 MB, paired:
        # 2.2-4.1 s against 3.4-6.6 s in 8 MB parts on 4 threads; SeaweedFS spends
        # ~3.3 CPU-s either way), with a third of the client CPU. Above it,
        # multipart: a failed part is sent again alone.
        self.single_put_max = settings.s3_single_put_max_mb * MIB
        self.lock_mode = settings.s3_object_lock_mode
        self.lock_days = settings.s3_object_lock_days

    @property
    def location(self) -> str:
        return self.bucket

    def _single_put(self, size: int | None) -> bool:
        return size is not None and self.single_put_max > 0 and size <= self.single_put_max

    def new_upload_check(self, size: int | None = None) -> EtagCheck | Sha256Check:
        if self._single_put(size):
            return Sha256Check()
        return EtagCheck(PART_SIZE)

    def _retention(self, retain_until: dt.datetime | None) -> dict[str, Any]:
        if retain_until is None or self.lock_mode is None:
            return {}
        return {"ObjectLockMode": self.lock_mode, "ObjectLockRetainUntilDate": retain_until}

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
        extra: dict[str, Any] = {"ContentType": content_type, "Metadata": dict(metadata)}
        extra.update(self.sse)
        retain_until = None
        if self.lock_mode is not None and self.lock_days is not None:
            # Whole seconds: that is what S3 keeps, and what we record.
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            retain_until = now + dt.timedelta(days=self.lock_days)
            extra.update(self._retention(retain_until))
        if sha256 is not None and size is not None and self._single_put(size):
            self._put_once(key, stream, size, sha256, extra)
            return retain_until
        if retain_until is not None:
            # S3 wants every write under Object Lock to carry a checksum of its
            # body (Content-MD5 or x-amz-checksum-*): CRC32 per part is the cheap one.
            extra["ChecksumAlgorithm"] = "CRC32"
        guarded = _GuardedStream(stream)
        with _upload_failures(key, guarded):
            self.client.upload_fileobj(
                guarded,  # type: ignore[arg-type]
                self.bucket,
                key,
                ExtraArgs=extra,
                Config=self.transfer,
            )
        return retain_until

    def _put_once(
        self, key: str, stream: BinaryIO, size: int, sha256: str, extra: dict[str, Any]
    ) -> None:
        """One PUT of ``size`` bytes carrying their SHA-256 (also the checksum Object
        Lock asks of every write).

        Its client sends the payload unsigned: the signed ``x-amz-checksum-sha256``
        header already commits to the body's SHA-256 and the store verifies the
        body against it, so signing the payload too (botocore's default over
        plain HTTP) would only read and hash the whole file once more before
        sending a byte.
        """
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        guarded = _GuardedBody(stream)
        with _upload_failures(key, guarded):
            self._put_client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=cast(BinaryIO, guarded),
                ContentLength=size,
                ChecksumSHA256=checksum,
                **extra,
            )

    def check_retention(self) -> None:
        if self.lock_mode is None:
            return
        problem = (
            f"S3_OBJECT_LOCK_MODE={self.lock_mode} but bucket {self.bucket} has no Object Lock "
            "enabled (it can only be enabled when the bucket is created: see the README, "
            '"Retention and integrity")'
        )
        try:
            answer = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NO_OBJECT_LOCK:
                raise RetentionUnsupported(problem) from None
            raise _failure(
                f"S3 GetObjectLockConfiguration of {self.bucket} failed: {_describe(exc)}", exc
            ) from exc
        except BotoCoreError as exc:
            raise _failure(
                f"S3 GetObjectLockConfiguration of {self.bucket} failed: {_describe(exc)}", exc
            ) from exc
        if answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise RetentionUnsupported(problem)

    def set_legal_hold(self, key: str, on: bool) -> None:
        status: Literal["ON", "OFF"] = "ON" if on else "OFF"
        try:
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=key, LegalHold={"Status": status}
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _NO_SUCH_KEY:
                raise StorageError(f"{key} is not in bucket {self.bucket}") from None
            if code in _NO_OBJECT_LOCK:
                raise RetentionUnsupported(
                    f"bucket {self.bucket} has no Object Lock, so it keeps no legal holds "
                    "(Object Lock can only be enabled when a bucket is created)"
                ) from None
            raise _failure(f"S3 legal hold on {key} failed: {_describe(exc)}", exc) from exc
        except BotoCoreError as exc:
            raise _failure(f"S3 legal hold on {key} failed: {_describe(exc)}", exc) from exc

    def read_back(self, key: str, pace: Pace | None = None) -> ReadBack | None:
        digest = hashlib.sha256()
        size = 0
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            for chunk in answer["Body"].iter_chunks(READ_BACK_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if pace is not None:
                    pace(len(chunk))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NO_SUCH_KEY:
                return None
            raise _failure(f"S3 read-back of {key} failed: {_describe(exc)}", exc) from exc
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise _failure(f"S3 read-back of {key} failed: {_describe(exc)}", exc) from exc
        return ReadBack(size, digest.hexdigest())

    def stat(self, key: str) -> StoredObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _failure(f"S3 HeadObject of {key} failed: {_describe(exc)}", exc) from exc
        except BotoCoreError as exc:
            raise _failure(f"S3 HeadObject of {key} failed: {_describe(exc)}", exc) from exc
        return StoredObject(
            size=int(head["ContentLength"]),
            metadata=head.get("Metadata", {}),
            content_type=head.get("ContentType"),
            etag=(head.get("ETag") or "").strip('"') or None,
            sha256=full_object_sha256(head),
        )

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def probe(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"S3 HeadBucket of {self.bucket} failed: {_describe(exc)}", exc) from exc

    def presigned_url(
        self, key: str, seconds: int, *, download_name: str | None = None
    ) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        try:
            return str(
                self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"presigning {key} failed: {_describe(exc)}", exc) from exc

    def local_path(self, key: str) -> Path | None:
        return None

    def confirm(
        self, key: str, size: int, sha256: str, check: UploadCheck | None = None
    ) -> StoredObject:
        stored = confirm_common(self.stat(key), key, size, sha256)
        if isinstance(check, Sha256Check) and stored.sha256 is None:
            # The store kept no checksum of the single PUT (confirm_common compared
            # the one it reported): nothing but our bytes read back is proof.
            read = self.read_back(key)
            if read is None or read.size != size or read.sha256 != sha256:
                raise ArchiveMismatch(f"{key} read back does not match the bytes sent")
        # SSE-KMS ETags are not MD5s of the bytes, whatever they look like.
        if (
            isinstance(check, EtagCheck)
            and stored.etag
            and self.sse.get("ServerSideEncryption") != "aws:kms"
            and check.matches(stored.etag) is False
        ):
            raise ArchiveMismatch(f"{key} ETag {stored.etag} does not match the bytes sent")
        return stored


def _client_config(settings: Settings, *, sign_payload: bool = True) -> BotoConfig:
    s3_config: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        # Path-style works everywhere (SeaweedFS, MinIO); AWS still accepts it.
        s3_config["addressing_style"] = "path"
    if not sign_payload:
        s3_config["payload_signing_enabled"] = False
    return BotoConfig(
        s3=cast(Any, s3_config),
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=settings.http_connect_timeout,
        read_timeout=settings.http_read_timeout,
        # Only send/validate checksums when an operation requires them:
        # S3-compatible stores vary in what they accept.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def full_object_sha256(head: Mapping[str, Any]) -> str | None:
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


_OUTAGE_CODES = {"ServiceUnavailable", "InternalError", "SlowDown", "RequestTimeout", "503", "500"}


def _is_outage(exc: BaseException) -> bool:
    """The store is away or overloaded (connection refused, time-outs, 5xx), as
    opposed to refusing this request (a 403, an unsupported option)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen,
            EndpointConnectionError
            | ConnectionClosedError
            | ConnectTimeoutError
            | ReadTimeoutError
            | urllib3.exceptions.HTTPError
            | ConnectionError
            | TimeoutError,
        ):
            return True
        if isinstance(seen, ClientError):
            status = seen.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = seen.response.get("Error", {}).get("Code", "")
            return int(status) >= 500 or code in _OUTAGE_CODES
        seen = seen.__cause__ or seen.__context__
    return False


def _failure(message: str, exc: BaseException) -> StorageError:
    return StoreUnavailable(message) if _is_outage(exc) else StorageError(message)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', 'error')} (HTTP {status}): {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
