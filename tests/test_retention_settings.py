"""The Object Lock and scrub settings: strict, each refusal naming its variable."""

from __future__ import annotations

import pytest

from app import load_settings
from app.config import ConfigError

BASE = {"SECRET_KEY": "s3cret", "S3_BUCKET": "archive"}


def test_object_lock_is_off_and_scrubs_daily_by_default():
    settings = load_settings(BASE)
    assert settings.s3_object_lock_mode is None and settings.s3_object_lock_days is None
    assert settings.scrub_every_hours == 24
    assert settings.scrub_max_mb_per_second == 20


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_a_lock_mode_with_its_days_is_taken(mode):
    settings = load_settings({**BASE, "S3_OBJECT_LOCK_MODE": mode, "S3_OBJECT_LOCK_DAYS": "2555"})
    assert settings.s3_object_lock_mode == mode
    assert settings.s3_object_lock_days == 2555


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"S3_OBJECT_LOCK_MODE": "compliance", "S3_OBJECT_LOCK_DAYS": "1"}, "S3_OBJECT_LOCK_MODE"),
        ({"S3_OBJECT_LOCK_MODE": "COMPLIANCE"}, "S3_OBJECT_LOCK_DAYS is required"),
        ({"S3_OBJECT_LOCK_DAYS": "30"}, "S3_OBJECT_LOCK_DAYS is only used with"),
        ({"S3_OBJECT_LOCK_MODE": "COMPLIANCE", "S3_OBJECT_LOCK_DAYS": "0"}, "S3_OBJECT_LOCK_DAYS"),
        ({"S3_OBJECT_LOCK_MODE": "COMPLIANCE", "S3_OBJECT_LOCK_DAYS": "7y"}, "S3_OBJECT_LOCK_DAYS"),
        ({"SCRUB_EVERY_HOURS": "daily"}, "SCRUB_EVERY_HOURS"),
        ({"SCRUB_EVERY_HOURS": "0"}, "SCRUB_EVERY_HOURS"),
        ({"SCRUB_MAX_MB_PER_SECOND": "fast"}, "SCRUB_MAX_MB_PER_SECOND"),
    ],
)
def test_a_malformed_setting_stops_the_start_up_naming_it(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**BASE, **env})


def test_a_lock_mode_without_a_bucket_is_refused():
    env = {"SECRET_KEY": "s3cret", "S3_OBJECT_LOCK_MODE": "COMPLIANCE", "S3_OBJECT_LOCK_DAYS": "1"}
    with pytest.raises(ConfigError, match="S3_OBJECT_LOCK_MODE needs S3_BUCKET"):
        load_settings(env)
