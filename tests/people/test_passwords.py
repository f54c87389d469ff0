"""The hash a sign-in with an unknown name is checked against."""

from __future__ import annotations

from argon2 import PasswordHasher

from app.people import passwords


def test_the_written_dummy_hash_costs_what_a_real_one_costs():
    # Same parameters as the hasher gives new passwords, so a wrong name takes as
    # long as a wrong password; and a real hash of its phrase, not a stand-in.
    hasher = PasswordHasher()
    assert not hasher.check_needs_rehash(passwords._dummy_hash())
    assert hasher.verify(passwords._dummy_hash(), "not anyone's password, only spent time")
    assert passwords.password_matches(None, "not anyone's password, only spent time") is False
