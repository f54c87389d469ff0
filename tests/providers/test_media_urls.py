"""Which RecordingUrls the worker may fetch: refused ones never get a request."""

from __future__ import annotations

import pytest

from app.providers.errors import ProviderError
from app.providers.http import parse_retry_after
from app.providers.twilio import PROVIDER as TWILIO
from tests.helpers import ACCOUNT_SID, AUTH_TOKEN, make_settings, recording_sid

SID = recording_sid(7)
GOOD = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}"


@pytest.fixture
def client():
    settings = make_settings(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN)
    client = TWILIO.api(settings)
    assert client is not None
    return client


def test_the_providers_own_url_for_this_recording_is_accepted(client):
    assert client.checked_recording_url(GOOD, ACCOUNT_SID, SID) == GOOD


def test_an_extension_on_the_url_is_tolerated(client):
    assert client.checked_recording_url(GOOD + ".json", ACCOUNT_SID, SID) == GOOD


def test_twilios_regional_hosts_count_as_its_own(client):
    url = GOOD.replace("api.twilio.com", "api.dublin.ie1.twilio.com")
    assert client.checked_recording_url(url, ACCOUNT_SID, SID) == url


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(GOOD.replace("api.twilio.com", "169.254.169.254"), id="metadata-service"),
        pytest.param(GOOD.replace("api.twilio.com", "localhost:5432"), id="internal-port"),
        pytest.param(GOOD.replace("https://", "http://"), id="plain-http"),
        pytest.param(GOOD.replace("api.twilio.com", "api.twilio.com:8443"), id="other-port"),
        pytest.param(GOOD.replace("api.twilio.com", "api.twilio.com.evil.example"), id="suffix"),
        pytest.param(
            GOOD.replace("api.twilio.com", "evil.example/api.twilio.com"), id="path-trick"
        ),
        pytest.param(GOOD.replace("https://", "https://user:pw@"), id="userinfo"),
        pytest.param(GOOD + "?x=1", id="query"),
    ],
)
def test_a_url_off_the_api_origin_is_refused(client, url):
    with pytest.raises(ProviderError, match="RecordingUrl refused") as refused:
        client.checked_recording_url(url, ACCOUNT_SID, SID)
    assert refused.value.retryable is False


def test_a_url_for_another_recording_is_refused(client):
    with pytest.raises(ProviderError, match="RecordingSid"):
        client.checked_recording_url(GOOD, ACCOUNT_SID, recording_sid(8))


def test_a_url_for_another_account_is_refused(client):
    other = "AC" + "e" * 32
    with pytest.raises(ProviderError, match="AccountSid"):
        client.checked_recording_url(GOOD.replace(ACCOUNT_SID, other), ACCOUNT_SID, SID)


def test_a_configured_base_url_with_a_path_prefix_is_honoured():
    settings = make_settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url="http://127.0.0.1:9999/proxy",
    )
    client = TWILIO.api(settings)
    assert client is not None
    url = f"http://127.0.0.1:9999/proxy/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{SID}"
    assert client.checked_recording_url(url, ACCOUNT_SID, SID) == url
    with pytest.raises(ProviderError):
        client.checked_recording_url(GOOD, ACCOUNT_SID, SID)


def test_the_token_never_shows_in_the_clients_repr(client):
    assert AUTH_TOKEN not in repr(client)


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), (None, None), ("soon", None)])
def test_retry_after_is_read_as_seconds(value, seconds):
    assert parse_retry_after(value) == seconds
