"""The download stream: digests, byte counts, and stopping on request."""

from __future__ import annotations

import hashlib
import io
import threading

import pytest
import requests
import urllib3

from app.archive.errors import RetryableError, WorkerStopping
from app.archive.hashing import HashingReader
from app.providers.http import ResponseStream
from app.storage.s3 import PART_SIZE, EtagCheck

DATA = b"recording bytes " * 1000


def reader_for(
    data: bytes,
    content_length: int | None = None,
    check: EtagCheck | None = None,
    sink: io.BytesIO | None = None,
    stop: threading.Event | None = None,
) -> HashingReader:
    response = requests.Response()
    response.raw = urllib3.HTTPResponse(body=io.BytesIO(data), preload_content=False)
    if content_length is not None:
        response.headers["Content-Length"] = str(content_length)
    return HashingReader(
        ResponseStream(response, channels=1, fmt="mp3"),
        stop=stop or threading.Event(),
        heartbeat=lambda: None,
        heartbeat_every=60,
        check=check,
        sink=sink,
    )


def read_through(reader: HashingReader) -> None:
    while reader.read(PART_SIZE):
        pass


def test_the_digest_of_the_whole_body_is_computed_on_the_way():
    check = EtagCheck()
    reader = reader_for(DATA, len(DATA), check)
    read_through(reader)
    assert reader.sha256 == hashlib.sha256(DATA).hexdigest()
    assert reader.size == len(DATA)
    assert check.matches(hashlib.md5(DATA, usedforsecurity=False).hexdigest()) is True


def test_every_byte_is_in_the_sink_once_the_last_read_returned():
    sink = io.BytesIO()
    reader = reader_for(DATA * 100, len(DATA) * 100, sink=sink)
    while reader.read(1000):
        pass
    assert sink.getvalue() == DATA * 100  # written in order, none missing, none twice
    assert reader.sha256 == hashlib.sha256(DATA * 100).hexdigest()


class FullDisk(io.BytesIO):
    def write(self, data) -> int:  # type: ignore[override]
        raise OSError(28, "No space left on device")


def test_a_sink_that_cannot_be_written_fails_the_download_saying_so():
    reader = reader_for(DATA, len(DATA), sink=FullDisk())
    with pytest.raises(RetryableError, match=r"spooling the download failed: .*No space left"):
        read_through(reader)
    reader.close()


def test_a_body_shorter_than_its_content_length_is_an_error():
    reader = reader_for(DATA, len(DATA) + 10)
    with pytest.raises(RetryableError, match="Content-Length"):
        read_through(reader)


def test_a_stop_request_abandons_the_transfer():
    stop = threading.Event()
    reader = reader_for(DATA, len(DATA), stop=stop)
    stop.set()
    with pytest.raises(WorkerStopping):
        reader.read(10)
    reader.close()


class FailingCheck:
    """A store's upload check that breaks on the second chunk (a bug in it, say)."""

    def __init__(self) -> None:
        self.chunks = 0

    def update(self, data: bytes) -> None:
        self.chunks += 1
        if self.chunks == 2:
            raise ValueError("the check broke")


def test_an_error_on_the_hashing_thread_reaches_the_reader_instead_of_blocking_it():
    data = b"x" * (PART_SIZE * 6)
    reader = reader_for(data, len(data), FailingCheck())  # type: ignore[arg-type]
    raised: list[BaseException] = []

    def read() -> None:
        try:
            while reader.read(1024 * 1024):
                pass
        except BaseException as exc:  # noqa: BLE001 - looked at below
            raised.append(exc)
        finally:
            reader.close()

    feeder = threading.Thread(target=read, daemon=True)
    feeder.start()
    feeder.join(10)
    assert not feeder.is_alive(), "the feeder blocked on a hashing thread that had died"
    assert len(raised) == 1 and isinstance(raised[0], RetryableError)
    assert "hashing the download failed: ValueError: the check broke" in str(raised[0])
