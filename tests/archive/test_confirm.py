"""Confirming the copy: what counts as proof that the store holds our bytes."""

from __future__ import annotations

import base64
import hashlib
import io
import threading

import pytest
import requests
import urllib3

from app.archive.errors import RetryableError, WorkerStopping
from app.archive.pipeline import Archiver, HashingReader
from app.archive.storage import PART_SIZE, StoredObject, _full_object_sha256
from app.config import Settings


def reader_for(data: bytes, content_length: int | None = None) -> HashingReader:
    response = requests.Response()
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(data), preload_content=False)
    if content_length is not None:
        response.headers["Content-Length"] = str(content_length)
    return HashingReader(
        response, stop=threading.Event(), heartbeat=lambda: None, heartbeat_every=60
    )


def read_through(reader: HashingReader) -> None:
    while reader.read(PART_SIZE):
        pass


@pytest.fixture
def archiver() -> Archiver:
    return Archiver(Settings(), sessions=None, store=None, worker_id="w", providers={})  # type: ignore[arg-type]


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


DATA = b"recording bytes " * 1000


def test_matching_size_digest_and_etag_confirm(archiver):
    reader = reader_for(DATA, len(DATA))
    read_through(reader)
    archiver._confirm(stored(DATA), "k", len(DATA), reader.sha256, reader)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"size": len(DATA) - 1}, "bytes"),
        ({"sha256": "0" * 64}, "SHA-256"),
        ({"metadata": {"sha256": "0" * 64}}, "metadata"),
        ({"etag": "0" * 32}, "ETag"),
    ],
)
def test_any_disagreement_is_retried_not_confirmed(archiver, overrides, reason):
    reader = reader_for(DATA, len(DATA))
    read_through(reader)
    with pytest.raises(RetryableError, match=reason):
        archiver._confirm(stored(DATA, **overrides), "k", len(DATA), reader.sha256, reader)


def test_a_missing_object_is_not_confirmed(archiver):
    with pytest.raises(RetryableError, match="not in the store"):
        archiver._confirm(None, "k", 1, "x")


def test_multipart_etags_are_checked_part_by_part():
    data = bytes(range(256)) * (PART_SIZE // 256) * 2 + b"tail"
    reader = reader_for(data, len(data))
    read_through(reader)
    parts = [data[:PART_SIZE], data[PART_SIZE : 2 * PART_SIZE], data[2 * PART_SIZE :]]
    part_md5s = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    combined = hashlib.md5(part_md5s, usedforsecurity=False).hexdigest()
    assert reader.etag_matches(f"{combined}-3") is True
    assert reader.etag_matches(f"{combined}-2") is False
    assert (
        reader.etag_matches(hashlib.md5(data, usedforsecurity=False).hexdigest()) is None
    )  # copied: cannot say
    assert reader.etag_matches("not-an-md5") is None


def test_a_body_shorter_than_its_content_length_is_an_error():
    reader = reader_for(DATA, len(DATA) + 10)
    with pytest.raises(RetryableError, match="Content-Length"):
        read_through(reader)


def test_a_stop_request_abandons_the_transfer():
    reader = reader_for(DATA, len(DATA))
    reader._stop.set()
    with pytest.raises(WorkerStopping):
        reader.read(10)
    reader.close()


def test_only_a_full_object_checksum_is_compared():
    digest = hashlib.sha256(DATA).digest()
    full = {"ChecksumSHA256": base64.b64encode(digest).decode(), "ChecksumType": "FULL_OBJECT"}
    assert _full_object_sha256(full) == digest.hex()
    assert _full_object_sha256({"ChecksumSHA256": "abc=-3"}) is None
    assert _full_object_sha256({**full, "ChecksumType": "COMPOSITE"}) is None
    assert _full_object_sha256({}) is None
