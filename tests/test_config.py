"""Settings are parsed strictly, once, from the environment."""

from __future__ import annotations

import pytest

from app import create_app, load_settings
from app.config import ConfigError

BASE = {"SECRET_KEY": "s3cret"}


def test_it_refuses_to_start_without_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings({})


def test_debug_mode_may_run_without_a_secret_key():
    settings = load_settings({"FLASK_DEBUG": "1"})
    assert settings.debug
    assert settings.secret_key


def test_create_app_stops_on_a_missing_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_a_bad_boolean_fails_at_start_up_naming_the_variable(value):
    with pytest.raises(ConfigError, match="DELETE_ORIGINAL"):
        load_settings({**BASE, "DELETE_ORIGINAL": value})


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("YES", True)])
def test_booleans_accept_the_usual_spellings(value, expected):
    assert load_settings({**BASE, "DELETE_ORIGINAL": value}).delete_original is expected


def test_a_bad_number_fails_at_start_up_naming_the_variable():
    with pytest.raises(ConfigError, match="ARCHIVE_MAX_ATTEMPTS"):
        load_settings({**BASE, "ARCHIVE_MAX_ATTEMPTS": "ten"})
    with pytest.raises(ConfigError, match="ARCHIVE_MAX_ATTEMPTS"):
        load_settings({**BASE, "ARCHIVE_MAX_ATTEMPTS": "0"})


def test_an_unknown_recording_format_is_refused():
    with pytest.raises(ConfigError, match="RECORDING_FORMAT"):
        load_settings({**BASE, "RECORDING_FORMAT": "ogg"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/x", "postgresql+psycopg://u:p@db:5432/x"),
        ("postgresql://u:p@db/x", "postgresql+psycopg://u:p@db/x"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_heroku_style_database_urls_mean_psycopg_3(given, expected):
    assert load_settings({**BASE, "DATABASE_URL": given}).database_url == expected


def test_the_embedded_default_is_sqlite_under_instance():
    settings = load_settings(BASE)
    assert settings.database_url.startswith("sqlite:///")
    assert "/instance/" in settings.database_url
    assert settings.s3_bucket is None


def test_secrets_stay_out_of_the_settings_repr():
    settings = load_settings(
        {**BASE, "TWILIO_AUTH_TOKEN": "tok-very-secret", "ADMIN_PASSWORD": "pw-secret"}
    )
    text = repr(settings)
    assert "tok-very-secret" not in text
    assert "pw-secret" not in text


def test_the_key_template_must_make_keys_unique():
    with pytest.raises(ConfigError, match="S3_KEY_TEMPLATE"):
        load_settings({**BASE, "S3_KEY_TEMPLATE": "{provider}/{yyyy}/recording.{ext}"})
