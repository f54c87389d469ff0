"""Encrypted recordings on the local folder store: the console's marks, and
``decrypt`` reading the folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.admin.helpers import HTML, log_in, seed
from tests.fakes.voice_encryption import encrypt_like_twilio, new_key_pair, private_pem

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
PLAIN = b"RIFF" + bytes(range(256)) * 100


@pytest.fixture
def admin(client):
    log_in(client)
    return client


def archived(app, connection, data: bytes, **fields):
    """A recording archived in the local folder, holding ``data``."""
    row = seed(connection, archived_at=DAY, size_bytes=len(data), **fields)
    path = Path(app.extensions["recording_archiver"].settings.local_archive_dir) / row.key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return row


def test_unreadable_details_are_marked_and_the_recording_has_no_player(admin, connection, app):
    row = archived(
        app, connection, b"\x00" * 64, key="twilio/x/bad.wav", encryption_details_unparsed="{bad"
    )
    page = admin.get(f"/admin/recordings/{row.id}", headers=HTML).get_data(as_text=True)
    listing = admin.get("/admin/", headers=HTML).get_data(as_text=True)
    assert "encrypted (details unreadable)" in page
    assert "encrypted (details unreadable)" in listing
    assert "<audio" not in page
    assert f"/admin/recordings/{row.id}/media?download=1" in page


def test_a_plain_recording_keeps_its_player_and_no_mark(admin, connection, app):
    row = archived(app, connection, b"ID3" + b"\x00" * 64, key="twilio/x/plain.mp3")
    page = admin.get(f"/admin/recordings/{row.id}", headers=HTML).get_data(as_text=True)
    assert "<audio" in page
    assert "encrypted (" not in page


def test_decrypt_reads_the_local_folder(runner, connection, app, tmp_path):
    key = new_key_pair()
    served, details = encrypt_like_twilio(PLAIN, key)
    row = archived(app, connection, served, key="twilio/x/enc.wav", encryption_details=details)
    pem = tmp_path / "key.pem"
    pem.write_bytes(private_pem(key))
    out = tmp_path / "plain.wav"

    result = runner.invoke(
        args=["decrypt", row.recording_sid, "--private-key", str(pem), "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    assert out.read_bytes() == PLAIN
    assert details["public_key_sid"] in result.output


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"encryption_details_unparsed": "{bad"}, "could not be read when they came"),
        ({}, "is not encrypted"),
        ({"key": None}, "is not archived yet"),
    ],
)
def test_decrypt_refuses_what_it_cannot_decrypt_saying_why(
    runner, connection, app, tmp_path, fields, reason
):
    values = {"key": "twilio/x/other.wav", **fields}
    row = (
        archived(app, connection, b"\x00" * 64, **values)
        if values["key"]
        else seed(connection, **values)
    )
    pem = tmp_path / "key.pem"
    pem.write_bytes(private_pem(new_key_pair()))
    out = tmp_path / "plain.wav"

    result = runner.invoke(
        args=["decrypt", row.recording_sid, "--private-key", str(pem), "--out", str(out)]
    )

    assert result.exit_code != 0
    assert reason in result.output
    assert not out.exists()


def test_a_refused_decryption_leaves_a_file_already_at_out_as_it_was(
    runner, connection, app, tmp_path
):
    key = new_key_pair()
    served, details = encrypt_like_twilio(PLAIN, key)
    changed = served[:-1] + bytes([served[-1] ^ 0x01])  # in the tag itself
    row = archived(app, connection, changed, key="twilio/x/enc.wav", encryption_details=details)
    folder = tmp_path / "out"
    folder.mkdir()
    pem = folder / "key.pem"
    pem.write_bytes(private_pem(key))
    out = folder / "plain.wav"
    out.write_bytes(b"an earlier file")

    result = runner.invoke(
        args=["decrypt", row.recording_sid, "--private-key", str(pem), "--out", str(out)]
    )

    assert result.exit_code != 0
    assert "tag does not verify" in result.output
    assert out.read_bytes() == b"an earlier file"
    assert sorted(p.name for p in folder.iterdir()) == ["key.pem", "plain.wav"]
