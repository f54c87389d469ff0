"""Twilio's signature check, against Twilio's own published vector."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from app.providers.signing.hmac_sha1 import compute, is_valid, url_variants


def signature_is_valid(url, params, signature, token):  # type: ignore[no-untyped-def]
    return is_valid(url, params, b"", signature, token)


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


# --- our HMAC against Twilio's own SDK (a test dependency only) ----------------------

# twilio-python's tests/unit/test_request_validator.py: a JSON body, signed via bodySHA256.
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="


def test_the_published_vector_is_what_our_hmac_computes():
    assert compute(VECTOR_URL, VECTOR_PARAMS, VECTOR_TOKEN) == VECTOR_SIGNATURE


def test_the_published_json_body_vector_verifies_and_its_hash_is_checked():
    assert hashlib.sha256(JSON_BODY).hexdigest() == JSON_BODY_HASH
    url = f"{VECTOR_URL}&bodySHA256={JSON_BODY_HASH}"
    assert is_valid(url, {}, JSON_BODY, JSON_SIGNATURE, VECTOR_TOKEN)
    assert not is_valid(url, {}, JSON_BODY + b" ", JSON_SIGNATURE, VECTOR_TOKEN)


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://a.example/x?y=1", ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]),
        ("http://a.example/x", ["http://a.example/x", "http://a.example:80/x"]),
        ("https://a.example:8443/x", ["https://a.example:8443/x", "https://a.example/x"]),
        ("http://[::1]:5000/x", ["http://[::1]:5000/x", "http://[::1]/x"]),
        ("http://a:b:c/x", ["http://a:b:c/x"]),
    ],
)
def test_the_url_is_tried_as_it_came_first_then_with_the_port_added_or_removed(url, variants):
    assert url_variants(url) == variants


def test_a_non_ascii_signature_header_is_a_mismatch_not_an_error():
    assert not is_valid(
        VECTOR_URL, VECTOR_PARAMS, b"", "RSOYDt4T1cUTdK1PDd93/VVr8B8\u00e9", "12345"
    )


def test_a_repeated_value_is_signed_once_as_twilios_validator_does():
    pairs = MultiDict([("A", "1"), ("A", "1"), ("A", "0"), ("B", "x")])
    expected = RequestValidator("k").compute_signature("https://h/p", pairs)
    assert compute("https://h/p", pairs, "k") == expected
    assert compute("https://h/p", {"A": ["0", "1"], "B": "x"}, "k") == expected


hosts = st.sampled_from(["example.com", "example.com:443", "example.com:8080", "127.0.0.1:5000"])
url_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
form_pairs = st.lists(st.tuples(url_texts, url_texts), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    # A path as requested_url gives it: percent-encoded, no whitespace. Not ";":
    # Twilio's validator rebuilds the URL with urlparse, which drops a trailing
    # ";" (and a raw newline); we check the URL as it came.
    path=st.text(st.sampled_from("abcXYZ019-._~%/!$&'()*+,=:@"), max_size=20),
    query=st.sampled_from(["", "?a=1", "?xbodySHA256=1", "?bodySHA2567=2&b=", "?bodySHA256"]),
    pairs=form_pairs,
    token=st.text(min_size=1, max_size=20),
    signed_with_port=st.booleans(),
)
def test_our_check_agrees_with_twilios_request_validator(
    scheme, host, path, query, pairs, token, signed_with_port
):
    url = f"{scheme}://{host}/{path}{query}"
    form = MultiDict(pairs)
    validator = RequestValidator(token)
    # What Twilio may have signed: the URL with or without an explicit port.
    signed_url = url_variants(url)[1 if signed_with_port else 0]
    signature = validator.compute_signature(signed_url, form)
    assert compute(signed_url, form, token) == signature
    assert is_valid(url, form, b"", signature, token) is validator.validate(url, form, signature)
    assert is_valid(url, form, b"", signature, token + "x") is False
