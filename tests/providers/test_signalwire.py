"""SignalWire's settings: the space, as people write it."""

from __future__ import annotations

import pytest

from app import load_settings
from app.config import ConfigError
from app.providers.signalwire import SignalWireSettings

BASE = {"SECRET_KEY": "s"}


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("example.signalwire.com", "https://example.signalwire.com"),
        ("https://example.signalwire.com/", "https://example.signalwire.com"),
        ("https://example.signalwire.com/api/laml", "https://example.signalwire.com"),
        ("http://127.0.0.1:8099", "http://127.0.0.1:8099"),
    ],
)
def test_the_space_is_its_origin_however_written(given, origin):
    settings = load_settings({**BASE, "SIGNALWIRE_SPACE_URL": given})
    assert settings.section("signalwire", SignalWireSettings).space_url == origin


@pytest.mark.parametrize(
    "given", ["ftp://example.signalwire.com", "https://x.signalwire.com/other"]
)
def test_a_space_that_is_not_one_fails_at_start_up(given):
    with pytest.raises(ConfigError, match="SIGNALWIRE_SPACE_URL"):
        load_settings({**BASE, "SIGNALWIRE_SPACE_URL": given})


def test_the_token_and_signing_key_stay_out_of_reprs():
    settings = load_settings(
        {**BASE, "SIGNALWIRE_API_TOKEN": "tok-secret-1", "SIGNALWIRE_SIGNING_KEY": "psk-secret-2"}
    )
    assert "tok-secret-1" not in repr(settings)
    assert "psk-secret-2" not in repr(settings)
