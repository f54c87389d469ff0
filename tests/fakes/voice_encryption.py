"""Encrypt a recording the way Twilio's Voice Recording Encryption documents it,
for the fake API to serve: a fresh 256-bit content key and a 96-bit IV, the
audio under AES-256-GCM with the 16-byte tag appended, the key wrapped with
the account's RSA public key under OAEP (SHA-256, MGF1 SHA-256)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def new_key_pair() -> rsa.RSAPrivateKey:
    """An RSA-2048 key, as Twilio's guide has one made."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_sid(key: rsa.RSAPrivateKey) -> str:
    """A stable ``CR...`` SID for the key (Twilio's Public Key resource has one)."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "CR" + hashlib.sha256(der).hexdigest()[:32]


def encrypt_like_twilio(plaintext: bytes, key: rsa.RSAPrivateKey) -> tuple[bytes, dict[str, str]]:
    """The bytes Twilio would serve, and the recording's ``encryption_details``."""
    cek = AESGCM.generate_key(bit_length=256)
    iv = os.urandom(12)
    served = AESGCM(cek).encrypt(iv, plaintext, None)  # ciphertext || 16-byte tag
    wrapped = key.public_key().encrypt(
        cek,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    details = {
        "type": "rsa-aes",
        "public_key_sid": public_key_sid(key),
        "encrypted_cek": base64.b64encode(wrapped).decode(),
        "iv": base64.b64encode(iv).decode(),
    }
    return served, details
