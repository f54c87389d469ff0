"""The archive's fixtures (real SeaweedFS, fake provider APIs, a worker's settings)."""

from tests.archive.conftest import (  # noqa: F401
    archive_overrides,
    archive_settings,
    archiver,
    sessions,
)
