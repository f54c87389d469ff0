"""The password hashes: RFC 9106's parameters unless PASSWORD_HASH_PROFILE says otherwise,
and an unknown name costing one full check."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy import text

from app import load_settings
from app.config import ConfigError, Settings
from app.people import passwords

BARE = {"SECRET_KEY": "test"}


def rfc_9106_second_recommendation(password_hash: str) -> bool:
    made = extract_parameters(password_hash)
    # RFC 9106 section 4, the second recommended option: Argon2id, 64 MiB, 3 passes, 4 lanes.
    return (made.type, made.memory_cost, made.time_cost, made.parallelism) == (
        Type.ID,
        64 * 1024,
        3,
        4,
    )


@pytest.fixture
def settings_overrides():
    # What a deployment gets: the suite's other tests use the cheapest profile.
    return {"password_hash_profile": load_settings(BARE).password_hash_profile}


def test_the_default_profile_is_rfc_9106s_second_recommendation():
    assert Settings().password_hash_profile == load_settings(BARE).password_hash_profile
    assert load_settings(BARE).password_hash_profile == passwords.DEFAULT_PROFILE
    assert rfc_9106_second_recommendation(passwords.hash_password("a long enough password"))


def test_a_user_added_under_the_default_settings_gets_an_rfc_9106_hash(runner, connection):
    result = runner.invoke(
        args=["users", "add", "rita", "--role", "viewer"], input="a long enough password\n"
    )
    assert result.exit_code == 0, result.output
    stored = connection.execute(text("SELECT password_hash FROM users WHERE name = 'rita'"))
    assert rfc_9106_second_recommendation(stored.scalar_one())


def test_the_cheapest_profile_is_argon2_cffis_for_tests_and_any_other_is_refused():
    assert (
        load_settings({**BARE, "PASSWORD_HASH_PROFILE": "cheapest"}).password_hash_profile
        == "cheapest"
    )
    made = extract_parameters(passwords.hash_password("a long enough password", "cheapest"))
    assert (made.memory_cost, made.time_cost, made.parallelism) == (8, 1, 1)
    with pytest.raises(ConfigError, match="PASSWORD_HASH_PROFILE"):
        load_settings({**BARE, "PASSWORD_HASH_PROFILE": "fast"})


@pytest.mark.parametrize("profile", passwords.PROFILES)
def test_the_unknown_names_hash_costs_what_a_users_does(profile):
    # The default one is written out in the source: it must carry the parameters new
    # hashes get, or a wrong name would answer faster (or slower) than a wrong password.
    dummy = passwords._DUMMY_HASHES[profile]
    assert extract_parameters(dummy) == extract_parameters(
        passwords.hash_password("a long enough password", profile)
    )
    assert PasswordHasher().verify(dummy, passwords._DUMMY_PASSWORD)
    assert not passwords.password_matches(None, passwords._DUMMY_PASSWORD, profile)


def test_a_hash_is_checked_with_its_own_parameters_whatever_the_profile():
    strong = passwords.hash_password("a long enough password")
    assert passwords.password_matches(strong, "a long enough password", "cheapest")
    assert not passwords.password_matches(strong, "another long password", "cheapest")
