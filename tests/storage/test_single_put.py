"""One PUT carrying our SHA-256, on a real SeaweedFS: the store checks the body
against it, keeps it, and reports it back; larger uploads still go in parts."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io

import pytest

from app.storage import ArchiveMismatch, StorageError, StoreUnavailable
from app.storage.s3 import EtagCheck, S3Store, Sha256Check
from tests.helpers import make_settings

MIB = 1024 * 1024
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a little


def store(seaweed, bucket: str, **settings) -> S3Store:
    return S3Store(
        make_settings(s3_bucket=bucket, s3_endpoint_url=seaweed.endpoint_url, **settings)
    )


def put(target: S3Store, key: str, data: bytes, sha256: str) -> None:
    target.put_stream(
        key,
        io.BytesIO(data),
        content_type="audio/mpeg",
        metadata={"sha256": sha256},
        size=len(data),
        sha256=sha256,
    )


def test_a_recording_of_known_size_goes_up_in_one_put_the_store_checked(seaweed, bucket, s3):
    target = store(seaweed, bucket)
    sha = hashlib.sha256(DATA).hexdigest()
    check = target.new_upload_check(len(DATA))
    assert isinstance(check, Sha256Check)  # no MD5 to compute on the way in
    put(target, "one", DATA, sha)
    head = s3.head_object(Bucket=bucket, Key="one", ChecksumMode="ENABLED")
    # One PUT (a plain MD5 ETag, no "-N"), and the store kept our SHA-256.
    assert head["ETag"].strip('"') == hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == sha
    assert head["Metadata"]["sha256"] == sha
    stored = target.confirm("one", len(DATA), sha, check)
    assert stored.sha256 == sha  # compared, not skipped


def test_the_store_refuses_a_body_that_is_not_the_one_hashed(seaweed, bucket):
    target = store(seaweed, bucket)
    hashed = hashlib.sha256(DATA).hexdigest()
    changed = DATA[:-1] + b"X"  # a byte changed on disk between download and upload
    with pytest.raises(StorageError, match="BadDigest") as refused:
        put(target, "changed", changed, hashed)
    assert not isinstance(refused.value, StoreUnavailable)  # a try spent, not an outage
    assert target.stat("changed") is None  # nothing written


def test_above_the_limit_the_upload_goes_in_parts(seaweed, bucket, s3):
    target = store(seaweed, bucket, s3_single_put_max_mb=1)
    data = bytes(range(256)) * (9 * MIB // 256)  # 9 MiB: two 8 MiB parts
    sha = hashlib.sha256(data).hexdigest()
    check = target.new_upload_check(len(data))
    assert isinstance(check, EtagCheck)
    check.update(data)
    put(target, "parts", data, sha)
    etag = s3.head_object(Bucket=bucket, Key="parts")["ETag"].strip('"')
    assert etag.endswith("-2")
    target.confirm("parts", len(data), sha, check)


def test_a_zero_limit_always_uploads_in_parts(seaweed, bucket):
    target = store(seaweed, bucket, s3_single_put_max_mb=0)
    assert isinstance(target.new_upload_check(0), EtagCheck)
    assert isinstance(target.new_upload_check(None), EtagCheck)


class NoChecksums(S3Store):
    """A store that keeps no checksum of a PUT (HEAD reports none), over SeaweedFS."""

    def stat(self, key):
        found = super().stat(key)
        return None if found is None else dataclasses.replace(found, sha256=None)


def test_without_the_stores_checksum_the_object_is_read_back(seaweed, bucket, s3):
    target = NoChecksums(make_settings(s3_bucket=bucket, s3_endpoint_url=seaweed.endpoint_url))
    sha = hashlib.sha256(DATA).hexdigest()
    put(target, "kept", DATA, sha)
    target.confirm("kept", len(DATA), sha, Sha256Check())
    # Overwritten behind our back with bytes of the same size and metadata: only
    # reading it back can tell.
    s3.put_object(Bucket=bucket, Key="kept", Body=DATA[:-1] + b"X", Metadata={"sha256": sha})
    with pytest.raises(ArchiveMismatch, match="read back"):
        target.confirm("kept", len(DATA), sha, Sha256Check())
