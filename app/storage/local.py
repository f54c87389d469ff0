"""A folder on local disk: the embedded default for trying the service out.

Each object is written to a temporary file in the same folder, flushed to
disk and renamed into place, so a key never holds a partial file. Metadata
sits beside it in ``<name>.meta.json``. A folder has no retention and no
legal holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from app.storage.base import (
    Pace,
    ReadBack,
    RetentionUnsupported,
    StorageError,
    StoredObject,
    StoreUnavailable,
    UploadCheck,
    confirm_common,
)

CHUNK = 1024 * 1024


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def new_upload_check(self, size: int | None = None) -> None:
        return None  # `confirm` reads the file back instead

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StorageError(f"key {key!r} escapes the archive folder")
        return path

    def _write_atomically(self, path: Path, chunks: Iterable[bytes]) -> None:
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
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str,
        metadata: Mapping[str, str],
        size: int | None = None,
        sha256: str | None = None,
    ) -> dt.datetime | None:
        path = self.path(key)

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(CHUNK):
                yield chunk

        try:
            self._write_atomically(path, chunks())
        except OSError as exc:
            raise StorageError(f"writing {path} failed: {exc}") from exc
        self._write_meta(key, {"content_type": content_type, "metadata": dict(metadata)})
        return None

    def _meta_path(self, key: str) -> Path:
        path = self.path(key)
        return path.with_name(path.name + ".meta.json")

    def _write_meta(self, key: str, meta: Mapping[str, object]) -> None:
        meta_path = self._meta_path(key)
        try:
            self._write_atomically(meta_path, [json.dumps(meta, indent=2).encode()])
        except OSError as exc:
            raise StorageError(f"writing {meta_path} failed: {exc}") from exc

    def check_retention(self) -> None:
        return None  # the settings refuse S3_OBJECT_LOCK_MODE without S3_BUCKET

    def set_legal_hold(self, key: str, on: bool) -> None:
        raise RetentionUnsupported(
            "the local archive folder has no legal holds (they need an S3 bucket with Object Lock)"
        )

    def read_back(self, key: str, pace: Pace | None = None) -> ReadBack | None:
        path = self.path(key)
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    if pace is not None:
                        pace(len(chunk))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"reading {path} failed: {exc}") from exc
        return ReadBack(size, digest.hexdigest())

    def stat(self, key: str) -> StoredObject | None:
        path = self.path(key)
        try:
            if not path.exists():
                return None
            digest = hashlib.sha256()
            # Read back what is on disk: the local store's "checksum it reports".
            with path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
            meta_path = self._meta_path(key)
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            size = path.stat().st_size
        except (OSError, ValueError) as exc:
            raise StorageError(f"reading {path} failed: {exc}") from exc
        return StoredObject(
            size=size,
            metadata=meta.get("metadata", {}),
            content_type=meta.get("content_type"),
            sha256=digest.hexdigest(),
        )

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except OSError as exc:
            raise StorageError(f"checking {key} failed: {exc}") from exc

    def probe(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreUnavailable(
                f"the archive folder {self.root} is not writable: {exc}"
            ) from exc

    def presigned_url(
        self, key: str, seconds: int, *, download_name: str | None = None
    ) -> str | None:
        return None  # no URL of its own: the admin console streams the file

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def confirm(
        self, key: str, size: int, sha256: str, check: UploadCheck | None = None
    ) -> StoredObject:
        return confirm_common(self.stat(key), key, size, sha256)
