"""Twilio's Voice Recording Encryption: the details a recording comes with, and
how to undo the encryption with the private key.

Twilio encrypts each recording with a fresh 256-bit content key (CEK) under
AES-256-GCM (a 96-bit IV, the 16-byte tag appended to the ciphertext, as its
Java sample's ``AES/GCM/NoPadding`` reads it), and wraps the CEK with the
account's RSA public key under RSAES-OAEP with SHA-256 for both the hash and
MGF1. The callback's ``EncryptionDetails`` (a JSON string) and the Recording
resource's ``encryption_details`` (an object) carry ``type`` (``rsa-aes``),
``public_key_sid``, ``encrypted_cek`` and ``iv``, the last two in base64.
(twilio.com/docs/voice/tutorials/voice-recording-encryption)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENCRYPTION_TYPE = "rsa-aes"
PUBLIC_KEY_SID = re.compile(r"CR[0-9a-fA-F]{32}")
TAG_BYTES = 16
CEK_BYTES = 32  # AES-256
# A CEK wrapped by an RSA key of up to 4096 bits (Twilio asks for 2048: 256
# bytes, 344 in base64). The bound keeps the object's metadata well inside
# S3's 2 KB for user metadata.
WRAPPED_CEK_MAX_BYTES = 512
# What GCM accepts; Twilio sends 12 bytes (16 in base64).
IV_BYTES = range(8, 129)
_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class EncryptionDetails:
    """How one recording was encrypted (nothing secret: the CEK is wrapped)."""

    public_key_sid: str
    encrypted_cek: str  # base64
    iv: str  # base64
    type: str = ENCRYPTION_TYPE

    def as_dict(self) -> dict[str, str]:
        return {
            "type": self.type,
            "public_key_sid": self.public_key_sid,
            "encrypted_cek": self.encrypted_cek,
            "iv": self.iv,
        }


class DecryptionRefused(ValueError):
    """The key, the details or the bytes do not decrypt: nothing may be written."""


def _base64(document: Mapping[str, Any], name: str, sizes: range) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is missing or not text")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{name} is not base64") from None
    if len(raw) not in sizes:
        raise ValueError(
            f"{name} decodes to {len(raw)} bytes, expected {sizes.start}-{sizes.stop - 1}"
        )
    return value


def parse_encryption_details(value: str | Mapping[str, Any]) -> EncryptionDetails:
    """The details, strictly: a JSON object (or its text) with the four documented
    fields; ValueError naming the first thing wrong. Other fields are ignored (a
    field Twilio adds later must not make the known ones unreadable)."""
    document: Any = value
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except ValueError:
            raise ValueError("not valid JSON") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"a JSON {type(document).__name__}, not an object")
    kind = document.get("type")
    if kind != ENCRYPTION_TYPE:
        raise ValueError(f"type is not {ENCRYPTION_TYPE}")
    sid = document.get("public_key_sid")
    if not isinstance(sid, str) or not PUBLIC_KEY_SID.fullmatch(sid):
        raise ValueError("public_key_sid is malformed: expected CR followed by 32 hex digits")
    return EncryptionDetails(
        public_key_sid=sid,
        encrypted_cek=_base64(document, "encrypted_cek", range(1, WRAPPED_CEK_MAX_BYTES + 1)),
        iv=_base64(document, "iv", IV_BYTES),
    )


def unwrap_content_key(private_key: rsa.RSAPrivateKey, details: EncryptionDetails) -> bytes:
    """The recording's AES key, unwrapped with RSA-OAEP (SHA-256, MGF1 SHA-256)."""
    try:
        cek = private_key.decrypt(base64.b64decode(details.encrypted_cek), _OAEP)
    except ValueError:
        raise DecryptionRefused(
            f"the private key does not unwrap this recording's content key "
            f"(it was wrapped for {details.public_key_sid}; is this that key?)"
        ) from None
    if len(cek) != CEK_BYTES:
        raise DecryptionRefused(f"the content key is {len(cek)} bytes, not {CEK_BYTES} (AES-256)")
    return cek


def decrypt_stream(
    source: IO[bytes], out: IO[bytes], cek: bytes, details: EncryptionDetails
) -> int:
    """Decrypt ``source`` (ciphertext, then its 16-byte GCM tag) into ``out``, a chunk
    at a time; the plaintext's size. DecryptionRefused when the tag does not verify:
    whatever was written to ``out`` by then must be thrown away."""
    decryptor = Cipher(algorithms.AES(cek), modes.GCM(base64.b64decode(details.iv))).decryptor()
    held = b""  # the last TAG_BYTES seen: the tag, once the source ends
    written = 0
    while chunk := source.read(_CHUNK):
        held += chunk
        if len(held) > TAG_BYTES:
            plain = decryptor.update(held[:-TAG_BYTES])
            held = held[-TAG_BYTES:]
            out.write(plain)
            written += len(plain)
    if len(held) < TAG_BYTES:
        raise DecryptionRefused(f"the object is too short to hold a {TAG_BYTES}-byte GCM tag")
    try:
        tail = decryptor.finalize_with_tag(held)
    except InvalidTag:
        raise DecryptionRefused(
            "the AES-GCM tag does not verify: the object was changed, or is not this recording's"
        ) from None
    out.write(tail)
    return written + len(tail)
