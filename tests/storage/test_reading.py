"""Reading an archived object back, from the local folder and from S3."""

from __future__ import annotations

import io

import pytest

from app.storage import StorageError
from app.storage.local import LocalStore
from app.storage.reading import open_archived
from app.storage.s3 import S3Store
from tests.helpers import base_settings

DATA = bytes(range(256)) * 1000


def test_a_local_object_reads_back_byte_for_byte(tmp_path):
    store = LocalStore(tmp_path)
    store.put_stream("a/b.wav", io.BytesIO(DATA), content_type="audio/x-wav", metadata={})
    with open_archived(store, "a/b.wav") as stream:
        assert stream.read() == DATA


def test_a_missing_local_object_is_a_storage_error(tmp_path):
    with (
        pytest.raises(StorageError, match="not in the store"),
        open_archived(LocalStore(tmp_path), "gone.wav"),
    ):
        pass


def test_an_s3_object_reads_back_byte_for_byte_and_a_missing_one_says_so(
    seaweed, bucket, database_url
):
    settings = base_settings(database_url, s3_bucket=bucket, s3_endpoint_url=seaweed.endpoint_url)
    store = S3Store(settings)
    store.put_stream("a/b.wav", io.BytesIO(DATA), content_type="audio/x-wav", metadata={})
    with open_archived(store, "a/b.wav") as stream:
        assert stream.read() == DATA
    with pytest.raises(StorageError, match="not in the store"), open_archived(store, "gone.wav"):
        pass
