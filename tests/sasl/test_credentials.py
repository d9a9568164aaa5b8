"""Credential stores, SCRAM key derivation (RFC 5802 section 3) and equal work for unknown users (A6.2)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.sasl import (
    CredentialStore,
    Failure,
    InMemoryCredentialStore,
    SASLprepError,
    ScramCredentials,
    ScramHash,
    Success,
    check_credentials,
    create_client,
    derive_scram_credentials,
    format_scram_credentials,
    parse_scram_credentials,
)
from rfcmail.sasl._credentials import scram_hash, verify_password
from rfcmail.sasl.login import LoginServer
from rfcmail.sasl.plain import PasswordServer, PlainServer

from . import counting_hash, run_exchange


def test_derive_matches_rfc5802_example() -> None:
    """RFC 5802 section 5: user/pencil, salt QSXCR+Q6sek8bf92, 4096 iterations."""
    salt = base64.b64decode("QSXCR+Q6sek8bf92")
    credentials = derive_scram_credentials("pencil", "SCRAM-SHA-1", salt=salt)
    digest = ScramHash("sha1")
    salted = digest.hi(b"pencil", salt, 4096)
    client_key, stored_key, server_key = digest.keys(salted)
    assert (credentials.salt, credentials.iterations) == (salt, 4096)
    assert credentials.stored_key == stored_key == digest.h(client_key)
    assert credentials.server_key == server_key
    assert "stored" not in repr(credentials) and repr(credentials) == "ScramCredentials(salt=<12 octets>, iterations=4096)"


def test_derive_defaults_and_errors() -> None:
    credentials = derive_scram_credentials("pw", random_bytes=lambda n: b"\x05" * n)
    assert credentials.salt == b"\x05" * 16 and len(credentials.stored_key) == 32
    with pytest.raises(ValueError):
        derive_scram_credentials("pw", "SCRAM-MD5")
    with pytest.raises(ValueError):
        derive_scram_credentials("pw", iterations=0)
    with pytest.raises(SASLprepError):
        derive_scram_credentials("bad\x07")
    with pytest.raises(SASLprepError):
        derive_scram_credentials("\u00ad")
    with pytest.raises(ValueError):
        ScramCredentials(salt=b"", iterations=1, stored_key=b"a", server_key=b"b")
    with pytest.raises(ValueError):
        ScramCredentials(salt=b"s", iterations=0, stored_key=b"a", server_key=b"b")
    with pytest.raises(ValueError):
        ScramCredentials(salt=b"s", iterations=1, stored_key=b"a", server_key=b"bb")


def test_scram_hash_names() -> None:
    assert scram_hash("scram-sha-256-plus").hash_name == "sha256"
    assert scram_hash("SCRAM-SHA-1").digest_size == 20


def test_in_memory_store() -> None:
    store = InMemoryCredentialStore({"alice": "secret"}, iterations=4096, random_bytes=lambda n: b"s" * n)
    assert store.has_plain_passwords
    assert store.get_password("alice") == "secret" and store.get_password("bob") is None
    keys = store.get_scram("alice", "SCRAM-SHA-256-PLUS")
    assert keys == derive_scram_credentials("secret", "SCRAM-SHA-256", salt=b"s" * 16)
    assert store.get_scram("bob", "SCRAM-SHA-1") is None
    with pytest.raises(ValueError):
        store.add_scram("bob", "SCRAM-SHA-1", keys)  # SHA-256 sized keys for SHA-1
    with pytest.raises(SASLprepError):
        store.add_user("bad\x07name", "pw")
    with pytest.raises(SASLprepError):
        store.add_user("carol", "pw\u0221")  # unassigned in Unicode 3.2: refused in a stored string
    assert not InMemoryCredentialStore().has_plain_passwords


def test_authorize_rules() -> None:
    store = InMemoryCredentialStore({"a": "x"}, authorizations={"admin": ["a", "b"]})
    assert store.authorize("a", "") and store.authorize("a", "a")
    assert not store.authorize("a", "b")
    assert store.authorize("admin", "b") and not store.authorize("admin", "c")

    class Default(CredentialStore):
        def get_password(self, authcid: str) -> str | None:
            return None

        def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
            return None

    assert Default().authorize("a", "") and not Default().authorize("a", "b")
    assert isinstance(store, CredentialStore) and isinstance(Default(), CredentialStore)


def test_check_credentials_for_pop3_and_imap_login() -> None:
    store = InMemoryCredentialStore({"alice": "secret"})
    assert check_credentials(store, "alice", "secret") == Success(authcid="alice", authzid="")
    assert check_credentials(store, "alice", "nope") == Failure(reason="invalid credentials")
    bad = check_credentials(store, "alice\r\n", "secret", mechanism="USER")
    assert isinstance(bad, Failure) and bad.malformed and "USER" in bad.reason


@pytest.mark.parametrize("server_class", [PlainServer, LoginServer])
def test_plain_and_login_cost_the_same_for_unknown_users(server_class: type[PasswordServer]) -> None:
    """SECURITY A6.2: one PBKDF2 (and the same HMACs) whether or not the user exists.

    The counts come from an injected hash function; nothing here measures time.
    """
    store = InMemoryCredentialStore({"alice": "secret"})
    counts = []
    for username in ["alice", "mallory"]:
        digest, calls = counting_hash("sha256")
        server = server_class(store, hash_functions=digest)
        client = create_client(server_class.name, username=username, password="wrong")
        assert run_exchange(client, server)[0] == Failure(reason="invalid credentials")
        counts.append(dict(calls))
    assert counts[0] == counts[1] == {"hi": 1, "hmac": 2, "h": 1}


def test_unknown_user_uses_a_dummy_salt_stable_per_name() -> None:
    store = InMemoryCredentialStore()
    seen: list[tuple[bytes, int]] = []

    class Recording(ScramHash):
        __slots__ = ()

        def hi(self, password: bytes, salt: bytes, iterations: int) -> bytes:
            seen.append((salt, iterations))
            return super().hi(password, salt, iterations)

    for name in ["x", "x", "y"]:
        verify_password(store, name, "pw", dummy_secret=b"k" * 32, hash_functions=Recording("sha256"))
    assert seen[0] == seen[1] and seen[0] != seen[2] and seen[0][1] == 4096


def test_password_only_store_compares_digests() -> None:
    class Passwords(CredentialStore):
        def get_password(self, authcid: str) -> str | None:
            return {"u": "p\u00adw", "bad": "\x07"}.get(authcid)

        def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
            return None

    store = Passwords()
    assert verify_password(store, "u", "pw", dummy_secret=b"k")
    assert not verify_password(store, "u", "p", dummy_secret=b"k")
    # A stored password SASLprep refuses is compared as it is; a given one that fails never matches.
    assert not verify_password(store, "bad", "\x07", dummy_secret=b"k")


def test_sha1_only_store_serves_plain() -> None:
    keys = derive_scram_credentials("pw", "SCRAM-SHA-1", salt=b"t" * 16)
    store = InMemoryCredentialStore(scram={"old": {"SCRAM-SHA-1": keys}})
    assert verify_password(store, "old", "pw", dummy_secret=b"k")
    assert not verify_password(store, "old", "pW", dummy_secret=b"k")


@given(st.text(min_size=1, max_size=16), st.binary(min_size=1, max_size=16), st.integers(1, 64))
def test_derived_keys_verify_and_refuse(password: str, salt: bytes, iterations: int) -> None:
    try:
        keys = derive_scram_credentials(password, "SCRAM-SHA-256", salt=salt, iterations=iterations)
    except SASLprepError:
        return
    store = InMemoryCredentialStore(scram={"u": {"SCRAM-SHA-256": keys}})
    assert verify_password(store, "u", password, dummy_secret=b"k")
    assert not verify_password(store, "u", password + "x", dummy_secret=b"k")


def test_stored_text_round_trip_and_rfc5802_keys() -> None:
    keys = derive_scram_credentials("pencil", "SCRAM-SHA-1", salt=base64.b64decode("QSXCR+Q6sek8bf92"))
    text = format_scram_credentials("SCRAM-SHA-1", keys)
    assert text.startswith("{SCRAM-SHA-1}4096,QSXCR+Q6sek8bf92,")
    assert parse_scram_credentials(text) == ("SCRAM-SHA-1", keys)
    assert parse_scram_credentials("  " + text + "\n") == ("SCRAM-SHA-1", keys)
    with pytest.raises(ValueError):
        format_scram_credentials("SCRAM-SHA-256", keys)  # SHA-1 sized keys


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{SCRAM-SHA-256}",
        "{SCRAM-SHA-512}4096,AAAA,AAAA,AAAA",
        "{SCRAM-SHA-1}0,QUFB,ZdaHO4U/3pM60nUr8gNKrs8JJ7Q=,3Kh3cIUeagQB/fAVQS0XQCRguBU=",
        "{SCRAM-SHA-1}4096,QUFB,ZdaHO4U/3pM60nUr8gNKrs8JJ7Q=",
        "{SCRAM-SHA-1}4096,QUF,ZdaHO4U/3pM60nUr8gNKrs8JJ7Q=,3Kh3cIUeagQB/fAVQS0XQCRguBU=",
        "{SCRAM-SHA-1}4096,=,ZdaHO4U/3pM60nUr8gNKrs8JJ7Q=,3Kh3cIUeagQB/fAVQS0XQCRguBU=",
        "{SCRAM-SHA-1}4096,QUFB,AAAA,3Kh3cIUeagQB/fAVQS0XQCRguBU=",
        "{SCRAM-SHA-256}4096,QUFB,ZdaHO4U/3pM60nUr8gNKrs8JJ7Q=,3Kh3cIUeagQB/fAVQS0XQCRguBU=",
        "{PLAIN}secret",
    ],
)
def test_stored_text_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_scram_credentials(text)


@given(st.text(max_size=120))
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        mechanism, keys = parse_scram_credentials(text)
    except ValueError:
        return
    assert format_scram_credentials(mechanism, keys) == text.strip()
