"""Twilio's signature check, against Twilio's own published vector."""

from __future__ import annotations

from app.providers.compat import signature_is_valid as compat_signature_is_valid


def signature_is_valid(url, params, signature, token):  # type: ignore[no-untyped-def]
    return compat_signature_is_valid(url, params, b"", signature, token)


# From Twilio's security documentation.
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilios_published_vector_verifies():
    assert signature_is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE, VECTOR_TOKEN)


def test_the_vector_fails_with_another_token():
    assert not signature_is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE, "54321")


def test_the_vector_fails_when_a_parameter_changes():
    params = dict(VECTOR_PARAMS, Digits="1235")
    assert not signature_is_valid(VECTOR_URL, params, VECTOR_SIGNATURE, VECTOR_TOKEN)


def test_the_vector_verifies_with_an_explicit_default_port():
    url = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert signature_is_valid(url, VECTOR_PARAMS, VECTOR_SIGNATURE, VECTOR_TOKEN)


def test_an_empty_signature_or_token_never_verifies():
    assert not signature_is_valid(VECTOR_URL, VECTOR_PARAMS, "", VECTOR_TOKEN)
    assert not signature_is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE, "")
