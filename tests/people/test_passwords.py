"""The password hashes: RFC 9106's parameters, and an unknown name costing one full check."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters

from app.people import passwords


def test_hashes_are_argon2id_with_rfc_9106s_second_recommendation():
    made = extract_parameters(passwords.hash_password("a long enough password"))
    # RFC 9106 section 4, the second recommended option: 64 MiB, 3 passes, 4 lanes.
    assert (made.type, made.memory_cost, made.time_cost, made.parallelism) == (
        Type.ID,
        64 * 1024,
        3,
        4,
    )


def test_the_unknown_names_hash_costs_what_a_users_does():
    # Written out in the source: it must carry the parameters new hashes get, or a
    # wrong name would answer faster (or slower) than a wrong password.
    dummy = extract_parameters(passwords._DUMMY_HASH)
    assert dummy == extract_parameters(passwords.hash_password("a long enough password"))
    assert PasswordHasher().verify(passwords._DUMMY_HASH, "not anyone's password, only spent time")


def test_no_password_matches_the_unknown_names_hash():
    assert not passwords.password_matches(None, "not anyone's password, only spent time")
    assert not passwords.password_matches(None, "a long enough password")
