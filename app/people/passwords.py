"""Password hashes (Argon2id through argon2-cffi) and the length rule."""

from __future__ import annotations

import hashlib
import hmac

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import PASSWORD_HASH_PROFILES
from app.telemetry import PASSWORD_CHECKS

MIN_LENGTH = 12
MAX_LENGTH = 1024
# PASSWORD_HASH_PROFILE. The default is RFC 9106's second recommendation (Argon2id,
# 64 MiB, 3 passes, 4 lanes; argon2-cffi's own defaults): about 50 ms, 0.2 CPU-s, once
# per sign-in. "cheapest" is argon2-cffi's profile for test suites (8 KiB, 1 pass): the
# same code, for suites that make and check hundreds of hashes in a run.
DEFAULT_PROFILE, CHEAPEST = PASSWORD_HASH_PROFILES
PROFILES: dict[str, Parameters] = {
    DEFAULT_PROFILE: profiles.RFC_9106_LOW_MEMORY,
    CHEAPEST: profiles.CHEAPEST,
}
_hashers = {name: PasswordHasher.from_parameters(p) for name, p in PROFILES.items()}
# Checked against when the user does not exist, so a wrong name costs as much
# time as a wrong password (no user enumeration by timing). Written out rather than
# made at import, which cost every process that imports the app one hash (0.2 CPU-s:
# each gunicorn worker, each CLI command) whether it ever checked a password or not,
# and Argon2's 64 MiB, which every such process then kept as its peak RSS (the worker's
# was 139 MB from this alone, 74 MB without);
# verifying costs what its parameters say, the hasher's own (a test holds them equal).
# The password it hashes is _DUMMY_PASSWORD.
_DUMMY_PASSWORD = "not anyone's password, only spent time"  # noqa: S105  (nobody's)
_DUMMY_HASHES = {
    DEFAULT_PROFILE: "$argon2id$v=19$m=65536,t=3,p=4$LVE4xtEKXFELjxb8GeKLiw$"
    "YEbvLvlU1C5+r6K0/US+UIc8V+c+hgsUhZkFNPUrQ7Y",
    # Microseconds to make: made here.
    CHEAPEST: _hashers[CHEAPEST].hash(_DUMMY_PASSWORD),
}


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


def hash_password(password: str, profile: str = DEFAULT_PROFILE) -> str:
    return _hashers[profile].hash(check_new_password(password))


def password_matches(
    password_hash: str | None, password: str, profile: str = DEFAULT_PROFILE
) -> bool:
    """One counted check (``recording_archiver_password_checks_total``). A hash is checked
    with its own parameters; ``profile`` picks the unknown name's, those of new hashes."""
    PASSWORD_CHECKS.inc()
    try:
        return _hashers[profile].verify(password_hash or _DUMMY_HASHES[profile], password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


def configured_password_matches(configured: str, given: str) -> bool:
    """ADMIN_PASSWORD, compared in constant time (it is not hashed at rest)."""
    PASSWORD_CHECKS.inc()
    return hmac.compare_digest(
        hashlib.sha256(configured.encode()).digest(), hashlib.sha256(given.encode()).digest()
    )
