"""Settings are parsed strictly, once, from the environment."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from app import create_app, load_settings
from app.archive.naming import build_key
from app.config import KEY_TEMPLATE_FIELDS, ConfigError
from app.recordings.queue import Claim

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


def test_the_single_put_limit_is_at_most_s3s_and_zero_means_always_in_parts():
    assert load_settings(BASE).s3_single_put_max_mb == 1024
    assert load_settings({**BASE, "S3_SINGLE_PUT_MAX_MB": "0"}).s3_single_put_max_mb == 0
    assert load_settings({**BASE, "S3_SINGLE_PUT_MAX_MB": "5120"}).s3_single_put_max_mb == 5120
    with pytest.raises(ConfigError, match="S3_SINGLE_PUT_MAX_MB must be at most 5120"):
        load_settings({**BASE, "S3_SINGLE_PUT_MAX_MB": "5121"})
    with pytest.raises(ConfigError, match="S3_SINGLE_PUT_MAX_MB"):
        load_settings({**BASE, "S3_SINGLE_PUT_MAX_MB": "-1"})


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


def test_originals_are_kept_by_default_when_recordings_go_to_the_local_folder():
    assert load_settings(BASE).delete_original is False


def test_originals_are_deleted_by_default_once_recordings_go_to_a_bucket():
    assert load_settings({**BASE, "S3_BUCKET": "archive"}).delete_original is True


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"DELETE_ORIGINAL": "true"}, True), ({"S3_BUCKET": "b", "DELETE_ORIGINAL": "false"}, False)],
)
def test_an_explicit_delete_original_wins_over_the_default(env, expected):
    assert load_settings({**BASE, **env}).delete_original is expected


def test_the_start_up_report_says_where_recordings_go_and_that_originals_are_kept(tmp_path):
    from app import startup_report

    env = {**BASE, "LOCAL_ARCHIVE_DIR": str(tmp_path / "archive")}
    archive = [line for line in startup_report(load_settings(env)) if line.startswith("archive:")]
    assert len(archive) == 1, archive
    assert f"local folder {tmp_path / 'archive'}" in archive[0]
    assert "originals are kept at the provider" in archive[0]
    assert "last 48 h" in archive[0]


def test_the_start_up_report_warns_of_the_test_suites_password_hash_profile_only():
    from app import startup_report

    cheap = startup_report(load_settings({**BASE, "PASSWORD_HASH_PROFILE": "cheapest"}))
    assert [line for line in cheap if line.startswith("PASSWORD_HASH_PROFILE=cheapest:")]
    assert not [line for line in startup_report(load_settings(BASE)) if "PASSWORD" in line]


def test_the_start_up_report_warns_that_originals_are_deleted_with_a_bucket():
    from app import startup_report

    (archive,) = [
        line
        for line in startup_report(load_settings({**BASE, "S3_BUCKET": "calls"}))
        if line.startswith("archive:")
    ]
    assert "S3 bucket calls" in archive
    assert "originals are DELETED at the provider" in archive


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://archive.example.com", "https://archive.example.com"),
        ("https://archive.example.com/", "https://archive.example.com"),
        ("HTTPS://Archive.example.com:8443", "https://Archive.example.com:8443"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://[::1]:5000", "http://[::1]:5000"),
    ],
)
def test_public_url_is_an_origin(given, expected):
    assert load_settings({**BASE, "PUBLIC_URL": given}).public_url == expected


def test_public_url_is_unset_by_default():
    assert load_settings(BASE).public_url is None


@pytest.mark.parametrize(
    "given",
    [
        "archive.example.com",
        "ftp://archive.example.com",
        "https://archive.example.com/archiver",
        "https://archive.example.com?x=1",
        "https://archive.example.com#top",
        "https://user:secret@archive.example.com",
        "https://archive.example.com:",
        "https://archive.example.com:0",
        "https://archive.example.com:65536",
        "https://archive example.com",
        "https://",
        "https://archive.example.com//",
    ],
)
def test_a_public_url_that_is_not_an_origin_fails_at_start_up_naming_it(given):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        load_settings({**BASE, "PUBLIC_URL": given})


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{prefix}{recording_sid}.{extension}", "{extension}"),
        ("{recording_sid}/{date}.{ext}", "{date}"),
        ("{recording_sid[0]}/{recording_sid}", "{recording_sid[0]}"),
        ("{recording_sid.__class__}", "{recording_sid.__class__}"),
        ("{}/{recording_sid}", "{}"),
        ("{recording_sid", "not a valid template"),
        ("{yyyy:d}/{recording_sid}", "cannot be filled in"),
    ],
)
def test_a_key_template_with_a_bad_placeholder_is_refused_at_start_up_naming_it(
    template, named, monkeypatch
):
    with pytest.raises(ConfigError, match="S3_KEY_TEMPLATE") as refused:
        load_settings({**BASE, "S3_KEY_TEMPLATE": template})
    assert named in str(refused.value)
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    monkeypatch.setenv("S3_KEY_TEMPLATE", template)
    with pytest.raises(ConfigError, match="S3_KEY_TEMPLATE"):
        create_app()


def test_every_placeholder_the_start_up_allows_is_one_the_worker_fills_in():
    template = "/".join(f"{{{name}}}" for name in KEY_TEMPLATE_FIELDS)
    settings = load_settings({**BASE, "S3_KEY_TEMPLATE": template, "S3_PREFIX": "pre"})
    when = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)
    claim = Claim(
        **dict.fromkeys(f.name for f in dataclasses.fields(Claim)),  # type: ignore[arg-type]
    )
    claim = dataclasses.replace(
        claim,
        provider="twilio",
        account_sid="AC1",
        recording_sid="RE1",
        call_sid="CA1",
        created_at=when,
    )
    assert build_key(settings, claim, "mp3") == "pre/twilio/AC1/2026/11/16/RE1/CA1/mp3"


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", "EST5EDT,M3.2.0"])
def test_an_unknown_display_timezone_is_refused_naming_the_variable(zone):
    with pytest.raises(ConfigError, match="DISPLAY_TIMEZONE"):
        load_settings({"DISPLAY_TIMEZONE": zone}, serving=False)


def test_the_display_timezone_and_phone_region_default_to_utc_and_us():
    settings = load_settings({}, serving=False)
    assert (settings.display_timezone, settings.default_phone_region) == ("UTC", "US")
    assert load_settings({"DEFAULT_PHONE_REGION": "gb"}, serving=False).default_phone_region == "GB"


def test_an_unknown_phone_region_is_refused_naming_the_variable():
    with pytest.raises(ConfigError, match="DEFAULT_PHONE_REGION"):
        load_settings({"DEFAULT_PHONE_REGION": "XX"}, serving=False)
