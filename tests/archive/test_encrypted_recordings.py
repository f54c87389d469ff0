"""Voice Recording Encryption end to end: a signed callback with EncryptionDetails,
the worker archiving the bytes as Twilio serves them, the details in the database
and the object's metadata, the console's mark, and ``decrypt`` back to the audio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from app.archive.pipeline import Archiver
from app.config import Settings
from app.recordings.models import ArchiveState, Recording, RecordingEvent
from tests.admin.helpers import HTML, PASSWORD, USERNAME, log_in
from tests.archive.helpers import drain, read_object, recording
from tests.fakes.audio import wav_tone
from tests.fakes.compat_api import FakeTwilioApi
from tests.fakes.voice_encryption import encrypt_like_twilio, new_key_pair, private_pem
from tests.helpers import recording_params, recording_sid, signed_post

SID = recording_sid(0xE1)


@pytest.fixture
def archive_overrides() -> dict[str, Any]:
    return {"admin_username": USERNAME, "admin_password": PASSWORD}


@pytest.fixture
def live_app(archive_settings: Settings, live_engine: Any) -> Flask:
    """The web app and the commands on the database the worker commits to."""
    app = create_app({"settings": archive_settings})
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def key() -> Any:
    return new_key_pair()


@pytest.fixture
def pem(tmp_path: Path, key: Any) -> Path:
    path = tmp_path / "private_key.pem"
    path.write_bytes(private_pem(key))
    return path


# Several 1 MiB reads, so the streamed decryption crosses chunk boundaries.
PLAIN = wav_tone(seconds=80.0)


def archive_encrypted(
    live_app: Flask, fake_twilio: FakeTwilioApi, archiver: Archiver, sessions: Any, key: Any
) -> tuple[bytes, dict[str, str]]:
    """Twilio serves PLAIN encrypted; its signed callback comes; the worker archives it."""
    served, details = encrypt_like_twilio(PLAIN, key)
    fake_twilio.add_recording(SID, mono=served, encryption_details=details)
    params = recording_params(
        "completed",
        sid=SID,
        RecordingUrl=fake_twilio.recording_url(SID),
        RecordingChannels="1",
        EncryptionDetails=json.dumps(details),
    )
    assert signed_post(live_app.test_client(), params).status_code == 204
    (row,) = drain(archiver, sessions)
    assert row.archive_state is ArchiveState.DONE
    return served, details


def decrypt(live_app: Flask, pem: Path, out: Path) -> Any:
    return live_app.test_cli_runner().invoke(
        args=["decrypt", SID, "--private-key", str(pem), "--out", str(out)]
    )


def test_an_encrypted_recording_is_archived_as_served_with_its_details(
    live_app, fake_twilio, archiver, sessions, key, s3, bucket
):
    served, details = archive_encrypted(live_app, fake_twilio, archiver, sessions, key)

    row = recording(sessions, SID)
    assert row.encryption_details == details
    assert row.encryption_details_unparsed is None
    # Twilio refuses an .mp3 of an encrypted recording (16109): asked as WAV only.
    assert {r.path.rsplit(".", 1)[-1] for r in fake_twilio.media_gets(SID)} == {"wav"}
    assert row.key is not None and row.key.endswith(".wav")
    assert read_object(s3, bucket, row.key) == served
    metadata = s3.head_object(Bucket=bucket, Key=row.key)["Metadata"]
    assert metadata["encryption-type"] == "rsa-aes"
    assert metadata["encryption-public-key-sid"] == details["public_key_sid"]
    assert metadata["encryption-cek"] == details["encrypted_cek"]
    assert metadata["encryption-iv"] == details["iv"]
    # S3 allows 2 KB of user metadata, names and values together.
    assert sum(len(k) + len(v) for k, v in metadata.items()) < 2048


def test_decrypt_round_trips_the_known_plaintext(
    live_app, fake_twilio, archiver, sessions, key, pem, tmp_path
):
    archive_encrypted(live_app, fake_twilio, archiver, sessions, key)
    out = tmp_path / "plain.wav"

    result = decrypt(live_app, pem, out)

    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PLAIN
    assert out.stat().st_mode & 0o077 == 0  # the plain audio is its owner's only


def test_decrypt_refuses_an_object_with_one_byte_flipped_and_writes_nothing(
    live_app, fake_twilio, archiver, sessions, key, pem, tmp_path, s3, bucket
):
    served, _ = archive_encrypted(live_app, fake_twilio, archiver, sessions, key)
    key_name = recording(sessions, SID).key
    changed = bytearray(served)
    changed[len(changed) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=key_name, Body=bytes(changed))
    out = tmp_path / "plain.wav"

    result = decrypt(live_app, pem, out)

    assert result.exit_code != 0
    assert "AES-GCM tag does not verify" in result.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private_key.pem"]


def test_decrypt_with_another_key_names_the_key_it_was_wrapped_for(
    live_app, fake_twilio, archiver, sessions, key, tmp_path
):
    _, details = archive_encrypted(live_app, fake_twilio, archiver, sessions, key)
    other = tmp_path / "other.pem"
    other.write_bytes(private_pem(new_key_pair()))
    out = tmp_path / "plain.wav"

    result = decrypt(live_app, other, out)

    assert result.exit_code != 0
    assert details["public_key_sid"] in result.output
    assert not out.exists()


def test_the_console_marks_an_encrypted_recording_and_offers_download_but_no_player(
    live_app, fake_twilio, archiver, sessions, key
):
    _, details = archive_encrypted(live_app, fake_twilio, archiver, sessions, key)
    row = recording(sessions, SID)
    client = live_app.test_client()
    log_in(client)

    page = client.get(f"/admin/recordings/{row.id}", headers=HTML).get_data(as_text=True)
    listing = client.get("/admin/", headers=HTML).get_data(as_text=True)

    mark = f'encrypted (key <span class="sid">{details["public_key_sid"]}</span>)'
    assert mark in page and mark in listing
    assert "<audio" not in page
    assert f"/admin/recordings/{row.id}/media?download=1" in page


def test_a_signed_callback_with_unreadable_encryption_details_is_kept_and_marked(
    client, connection
):
    raw = '{"type": "rsa-aes", "public_key_sid": "CR'  # cut off
    params = recording_params("completed", sid=SID, EncryptionDetails=raw)

    response = signed_post(client, params)

    assert response.status_code == 204
    event = connection.execute(select(RecordingEvent.params)).scalar_one()
    assert event["EncryptionDetails"] == raw
    row = connection.execute(
        select(Recording.encryption_details, Recording.encryption_details_unparsed)
    ).one()
    assert row == (None, raw)
