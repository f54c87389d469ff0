"""The delivery settings are read strictly: each refusal names its variable."""

from __future__ import annotations

import pytest

from app import load_settings
from app.config import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def read(**env: str):
    return load_settings({"SECRET_KEY": "x", **env})


def test_forward_and_notify_settings_are_read():
    settings = read(
        FORWARD_URL="https://crm.example.com/twilio?x=1",
        NOTIFY_URL="https://hooks.example.com/archive",
        NOTIFY_SECRET=SECRET,
    )
    assert settings.forward_url == "https://crm.example.com/twilio?x=1"
    assert settings.notify_url == "https://hooks.example.com/archive"
    assert settings.notify_secret == SECRET
    assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FORWARD_URL": "crm.example.com/twilio"}, "FORWARD_URL"),
        ({"NOTIFY_URL": "ftp://hooks.example.com/"}, "NOTIFY_URL"),
        ({"NOTIFY_URL": "https://hooks.example.com/"}, "NOTIFY_SECRET must be set when NOTIFY_URL"),
        (
            {"NOTIFY_SECRET": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
            "NOTIFY_SECRET must start with whsec_",
        ),
        ({"NOTIFY_SECRET": "whsec_not base64!"}, "NOTIFY_SECRET is not whsec_ and valid base64"),
        ({"FORWARD_SECRET": "whsec_c2hvcnQ="}, "FORWARD_SECRET must hold at least 24"),
    ],
)
def test_a_malformed_delivery_setting_is_refused_by_name(env, named):
    with pytest.raises(ConfigError, match=named):
        read(**env)
