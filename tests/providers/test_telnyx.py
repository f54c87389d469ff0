"""Telnyx's settings and media origins."""

from __future__ import annotations

import pytest

from app import load_settings
from app.config import ConfigError
from app.providers.telnyx import TelnyxSettings
from app.providers.telnyx_api import MediaOrigin, parse_media_hosts
from tests.helpers import TelnyxSigner

BASE = {"SECRET_KEY": "s"}


@pytest.mark.parametrize(
    ("entry", "url", "admitted"),
    [
        ("s3.amazonaws.com", "https://s3.amazonaws.com/b/k.mp3?X-Amz-Expires=600", True),
        ("s3.amazonaws.com", "https://s3.amazonaws.com:8443/b/k.mp3", True),
        ("s3.amazonaws.com", "http://s3.amazonaws.com/b/k.mp3", False),
        ("s3.amazonaws.com", "https://evil-s3.amazonaws.com/b/k.mp3", False),
        ("s3.amazonaws.com", "https://s3.amazonaws.com.evil.example/k.mp3", False),
        ("storage.example:9000", "https://storage.example:9000/k.mp3", True),
        ("storage.example:9000", "https://storage.example/k.mp3", False),
        ("http://127.0.0.1:8097", "http://127.0.0.1:8097/k.mp3", True),
        ("http://127.0.0.1:8097", "http://127.0.0.1:8098/k.mp3", False),
        ("http://127.0.0.1:8097", "https://127.0.0.1:8097/k.mp3", False),
    ],
)
def test_a_media_host_entry_admits_exactly_what_it_says(entry, url, admitted):
    assert MediaOrigin.parse(entry).admits(url) is admitted


def test_the_default_media_hosts_are_telnyx_storage():
    settings = load_settings(BASE).section("telnyx", TelnyxSettings)
    assert any(
        origin.admits("https://s3.amazonaws.com/telephony-recorder-prod/a.mp3")
        for origin in settings.media_hosts
    )
    assert parse_media_hosts("a.example, b.example:444")[1].port == 444


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELNYX_PUBLIC_KEY", "not base64!"),
        ("TELNYX_PUBLIC_KEY", "c2hvcnQ="),
        ("TELNYX_MEDIA_HOSTS", "ftp://storage.example"),
        ("TELNYX_MEDIA_HOSTS", "host:port"),
        ("TELNYX_ACCOUNT_SID", "AC123"),
        ("TELNYX_API_BASE_URL", "api.telnyx.com"),
    ],
)
def test_a_malformed_setting_fails_at_start_up_naming_it(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**BASE, name: value})


def test_a_real_public_key_is_accepted_and_the_api_key_stays_out_of_reprs():
    settings = load_settings(
        {**BASE, "TELNYX_PUBLIC_KEY": TelnyxSigner().public_key, "TELNYX_API_KEY": "KEY-secret"}
    )
    assert settings.section("telnyx", TelnyxSettings).missing() == []
    assert "KEY-secret" not in repr(settings)
