"""Voice Recording Encryption's details, parsed strictly, and the streamed decryption."""

from __future__ import annotations

import base64
import io
import json

import pytest

from app.providers import PROVIDERS
from app.providers.encryption import (
    DecryptionRefused,
    EncryptionDetails,
    decrypt_stream,
    parse_encryption_details,
    unwrap_content_key,
)
from app.providers.twilio_api import TwilioApi
from tests.fakes.voice_encryption import encrypt_like_twilio, new_key_pair
from tests.helpers import ACCOUNT_SID, recording_params, recording_sid

KEY = new_key_pair()
PLAIN = bytes(range(256)) * 9000  # a little over 2 MiB: several reads
SERVED, DETAILS = encrypt_like_twilio(PLAIN, KEY)


def details(**changes: object) -> dict[str, object]:
    return {**DETAILS, **changes}


def test_details_as_twilio_sends_them_parse_from_text_and_from_an_object():
    parsed = parse_encryption_details(json.dumps(DETAILS))
    assert parsed.as_dict() == DETAILS
    assert parse_encryption_details(DETAILS) == parsed


def test_a_field_twilio_adds_later_does_not_make_the_known_ones_unreadable():
    assert parse_encryption_details(details(algorithm="future")).as_dict() == DETAILS


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('{"type": "rsa-aes"', "not valid JSON"),
        ("[]", "a JSON list, not an object"),
        (details(type="aes"), "type is not rsa-aes"),
        (details(public_key_sid="PK" + "0" * 32), "public_key_sid is malformed"),
        (details(encrypted_cek="not base64!"), "encrypted_cek is not base64"),
        (details(encrypted_cek=None), "encrypted_cek is missing or not text"),
        (details(encrypted_cek=base64.b64encode(b"x" * 513).decode()), "513 bytes"),
        (details(iv=base64.b64encode(b"1234567").decode()), "iv decodes to 7 bytes"),
    ],
)
def test_malformed_details_are_refused_naming_what_is_wrong(value, reason):
    with pytest.raises(ValueError, match=reason):
        parse_encryption_details(value)


def test_decryption_streams_the_plaintext_back_across_reads():
    parsed = parse_encryption_details(DETAILS)
    out = io.BytesIO()
    assert decrypt_stream(io.BytesIO(SERVED), out, unwrap_content_key(KEY, parsed), parsed) == len(
        PLAIN
    )
    assert out.getvalue() == PLAIN


@pytest.mark.parametrize("where", [0, len(SERVED) // 2, len(SERVED) - 1])
def test_one_flipped_byte_anywhere_is_refused(where):
    changed = bytearray(SERVED)
    changed[where] ^= 0x80
    parsed = parse_encryption_details(DETAILS)
    with pytest.raises(DecryptionRefused, match="tag does not verify"):
        decrypt_stream(
            io.BytesIO(bytes(changed)), io.BytesIO(), unwrap_content_key(KEY, parsed), parsed
        )


def test_an_object_shorter_than_the_tag_is_refused():
    parsed = parse_encryption_details(DETAILS)
    with pytest.raises(DecryptionRefused, match="too short"):
        decrypt_stream(io.BytesIO(b"short"), io.BytesIO(), unwrap_content_key(KEY, parsed), parsed)


def test_another_key_is_refused_naming_the_key_it_was_wrapped_for():
    parsed = EncryptionDetails(**{k: v for k, v in DETAILS.items() if k != "type"})
    with pytest.raises(DecryptionRefused, match=DETAILS["public_key_sid"]):
        unwrap_content_key(new_key_pair(), parsed)


def test_a_callback_with_unreadable_details_is_read_with_them_kept_as_received():
    raw = "{not json"
    report = PROVIDERS["twilio"].parse_callback(recording_params(EncryptionDetails=raw))
    assert report.encryption_details is None
    assert report.encryption_details_unparsed == raw


def test_a_callback_without_details_has_none():
    report = PROVIDERS["twilio"].parse_callback(recording_params())
    assert (report.encryption_details, report.encryption_details_unparsed) == (None, None)


def listing_entry(**fields: object) -> dict[str, object]:
    sid = recording_sid(7)
    return {
        "sid": sid,
        "account_sid": ACCOUNT_SID,
        "status": "completed",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}.json",
        **fields,
    }


def test_the_listing_carries_each_recordings_encryption_details():
    api = TwilioApi(
        name="twilio",
        api_base_url="https://api.twilio.com",
        account_sid=ACCOUNT_SID,
        auth_token="t",
    )
    assert api.listed(listing_entry(encryption_details=DETAILS)).encryption_details == DETAILS
    assert api.listed(listing_entry(encryption_details=None)).encryption_details is None
    unreadable = api.listed(listing_entry(encryption_details={"type": "rsa-aes"}))
    assert unreadable.encryption_details is None
    assert json.loads(unreadable.encryption_details_unparsed or "") == {"type": "rsa-aes"}
