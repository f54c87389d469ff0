"""Reading an archived object back, through what every store already offers: the
file of a store on local disk, or a short-lived presigned URL of an S3 store
(the console's download takes the same two ways)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, cast

import requests

from app.storage.base import ArchiveStore, StorageError

URL_SECONDS = 300


@contextlib.contextmanager
def open_archived(
    store: ArchiveStore, key: str, timeouts: tuple[float, float] = (10.0, 30.0)
) -> Iterator[IO[bytes]]:
    """The bytes stored under ``key``, as they are (no content decoding), streamed;
    StorageError when the store does not hold them or does not answer."""
    path = store.local_path(key)
    if path is not None:
        try:
            file = path.open("rb")
        except FileNotFoundError:
            raise StorageError(f"{key} is not in the store") from None
        except OSError as exc:
            raise StorageError(f"reading {key} failed: {exc}") from exc
        with file:
            yield file
        return
    url = store.presigned_url(key, URL_SECONDS)
    if url is None:
        raise StorageError(f"the store offers no way to read {key} back")
    try:
        response = requests.get(url, stream=True, timeout=timeouts)
    except requests.RequestException as exc:
        # Never the URL itself: its query string is a credential for a while.
        raise StorageError(f"reading {key} failed: {type(exc).__name__}") from exc
    with response:
        if response.status_code == 404:
            raise StorageError(f"{key} is not in the store")
        if response.status_code >= 400:
            raise StorageError(f"reading {key} failed: HTTP {response.status_code}")
        response.raw.decode_content = False
        yield cast(IO[bytes], response.raw)
