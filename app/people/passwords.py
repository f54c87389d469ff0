"""Password hashes (Argon2id through argon2-cffi) and the length rule."""

from __future__ import annotations

import functools
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.telemetry import PASSWORD_CHECKS

MIN_LENGTH = 12
MAX_LENGTH = 1024
# argon2-cffi's defaults are RFC 9106's second recommendation (Argon2id,
# 64 MiB, 3 passes): about 50 ms here, once per sign-in.
_hasher = PasswordHasher()
# Checked against when the user does not exist, so a wrong name costs as much
# time as a wrong password (no user enumeration by timing). Written out, not
# hashed at import: hashing takes Argon2's 64 MiB, which every process importing
# this module (the worker too) then kept as its peak RSS (139 MB against 77 MB).
_WRITTEN_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$9JdWMNfp3DiOdtICoH4TJQ$c9heLJ8ni827Mzi+B70AnfKtqUCjxf/g7r/dEs7xoOM"


@functools.cache
def _dummy_hash() -> str:
    """The written hash, or (once) a fresh one should argon2-cffi's parameters ever
    move away from it: a wrong name must cost what a wrong password costs."""
    if _hasher.check_needs_rehash(_WRITTEN_DUMMY_HASH):
        return _hasher.hash("not anyone's password, only spent time")
    return _WRITTEN_DUMMY_HASH


class PasswordRefused(ValueError):
    """A new password we do not take; the message says why."""


def check_new_password(password: str) -> str:
    if "\n" in password or "\r" in password:
        raise PasswordRefused("a password is one line")
    if len(password) < MIN_LENGTH:
        raise PasswordRefused(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRefused(f"a password has at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new_password(password))


def password_matches(password_hash: str | None, password: str) -> bool:
    """One counted check (``recording_archiver_password_checks_total``)."""
    PASSWORD_CHECKS.inc()
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def configured_password_matches(configured: str, given: str) -> bool:
    """ADMIN_PASSWORD, compared in constant time (it is not hashed at rest)."""
    PASSWORD_CHECKS.inc()
    return hmac.compare_digest(
        hashlib.sha256(configured.encode()).digest(), hashlib.sha256(given.encode()).digest()
    )
