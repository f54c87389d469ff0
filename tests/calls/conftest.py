"""The archive's fixtures (real SeaweedFS, fake provider APIs, a worker's settings,
the Procfile's worker processes)."""

from tests.archive.conftest import (  # noqa: F401
    archive_overrides,
    archive_settings,
    archiver,
    sessions,
)
from tests.archive.test_worker_process import worker_env, workers  # noqa: F401
