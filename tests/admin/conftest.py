"""Fixtures for the admin console: a configured login, recordings to look at."""

from __future__ import annotations

import pytest

from tests.admin.helpers import PASSWORD, USERNAME


@pytest.fixture
def settings_overrides(tmp_path):
    return {
        "admin_username": USERNAME,
        "admin_password": PASSWORD,
        "local_archive_dir": str(tmp_path / "archive"),
    }
