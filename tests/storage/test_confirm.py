"""Confirming the copy: what counts as proof that the store holds our bytes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from app.storage import ArchiveMismatch, StoredObject
from app.storage.s3 import PART_SIZE, EtagCheck, S3Store, full_object_sha256
from tests.helpers import make_settings

DATA = b"recording bytes " * 1000


class StatOnly(S3Store):
    """The S3 store's own confirmation, over a HeadObject answer given by the test."""

    def __init__(self, stored: StoredObject | None, **settings) -> None:
        super().__init__(make_settings(s3_bucket="b", **settings))
        self._stored = stored

    def stat(self, key: str) -> StoredObject | None:
        return self._stored


def stored(data: bytes, **overrides) -> StoredObject:
    values = {
        "size": len(data),
        "metadata": {"sha256": hashlib.sha256(data).hexdigest()},
        "content_type": "audio/mpeg",
        "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "sha256": None,
    }
    values.update(overrides)
    return StoredObject(**values)


def check_of(data: bytes) -> EtagCheck:
    check = EtagCheck()
    check.update(data)
    return check


def test_matching_size_digest_and_etag_confirm():
    sha = hashlib.sha256(DATA).hexdigest()
    StatOnly(stored(DATA)).confirm("k", len(DATA), sha, check_of(DATA))


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"size": len(DATA) - 1}, "bytes"),
        ({"sha256": "0" * 64}, "SHA-256"),
        ({"metadata": {"sha256": "0" * 64}}, "metadata"),
        ({"etag": "0" * 32}, "ETag"),
    ],
)
def test_any_disagreement_is_retried_not_confirmed(overrides, reason):
    sha = hashlib.sha256(DATA).hexdigest()
    with pytest.raises(ArchiveMismatch, match=reason):
        StatOnly(stored(DATA, **overrides)).confirm("k", len(DATA), sha, check_of(DATA))


def test_an_sse_kms_etag_proves_nothing_either_way():
    sha = hashlib.sha256(DATA).hexdigest()
    store = StatOnly(stored(DATA, etag="0" * 32), s3_sse="aws:kms")
    store.confirm("k", len(DATA), sha, check_of(DATA))


def test_a_missing_object_is_not_confirmed():
    with pytest.raises(ArchiveMismatch, match="not in the store"):
        StatOnly(None).confirm("k", 1, "x")


def test_multipart_etags_are_checked_part_by_part():
    data = bytes(range(256)) * (PART_SIZE // 256) * 2 + b"tail"
    parts = [data[:PART_SIZE], data[PART_SIZE : 2 * PART_SIZE], data[2 * PART_SIZE :]]
    part_md5s = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    combined = hashlib.md5(part_md5s, usedforsecurity=False).hexdigest()
    check = check_of(data)
    assert check.matches(f"{combined}-3") is True
    assert check.matches(f"{combined}-2") is False
    # copied by the store its own way: cannot say
    assert check.matches(hashlib.md5(data, usedforsecurity=False).hexdigest()) is None
    assert check.matches("not-an-md5") is None


def test_only_a_full_object_checksum_is_compared():
    digest = hashlib.sha256(DATA).digest()
    full = {"ChecksumSHA256": base64.b64encode(digest).decode(), "ChecksumType": "FULL_OBJECT"}
    assert full_object_sha256(full) == digest.hex()
    assert full_object_sha256({"ChecksumSHA256": "abc=-3"}) is None
    assert full_object_sha256({**full, "ChecksumType": "COMPOSITE"}) is None
    assert full_object_sha256({}) is None
