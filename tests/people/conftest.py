"""Fixtures for people tests: the env admin login, and users made with the commands."""

from __future__ import annotations

import pytest

from tests.admin.helpers import PASSWORD, USERNAME

USER_PASSWORD = "a long enough password"


@pytest.fixture
def settings_overrides(tmp_path):
    return {
        "admin_username": USERNAME,
        "admin_password": PASSWORD,
        "local_archive_dir": str(tmp_path / "archive"),
    }


@pytest.fixture
def add_user(runner):
    def add(name: str, role: str, password: str = USER_PASSWORD) -> str:
        result = runner.invoke(args=["users", "add", name, "--role", role], input=password + "\n")
        assert result.exit_code == 0, result.output
        return password

    return add
