"""SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677): vectors, channel binding, hostile peers, equal work."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import (
    ChannelBinding,
    Challenge,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    InMemoryCredentialStore,
    SaltedPasswordCache,
    SASLError,
    ScramCredentials,
    Success,
    create_client,
    create_server,
    derive_scram_credentials,
)
from rfcmail.sasl._base import decode_saslname, encode_saslname
from rfcmail.sasl.scram import ScramClient, ScramServer

from . import counting_hash, run_exchange

@dataclass(frozen=True)
class Vector:
    mechanism: str
    client_nonce: str
    server_nonce: str
    salt: str
    client_first: bytes
    server_first: bytes
    client_final: bytes
    server_final: bytes


# RFC 5802 section 5 and RFC 7677 section 3: user "user", password "pencil".
RFC5802 = Vector(
    mechanism="SCRAM-SHA-1",
    client_nonce="fyko+d2lbbFgONRv9qkxdawL",
    server_nonce="3rfcNHYJY1ZVvWVs7j",
    salt="QSXCR+Q6sek8bf92",
    client_first=b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first=b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final=b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final=b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
)
RFC7677 = Vector(
    mechanism="SCRAM-SHA-256",
    client_nonce="rOprNGfwEbeRWgbNEkqO",
    server_nonce="%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt="W22ZaJ0SNY7soEsUEjb6gQ==",
    client_first=b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first=b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final=b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final=b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
)
VECTORS = [pytest.param(RFC5802, id="rfc5802-sha1"), pytest.param(RFC7677, id="rfc7677-sha256")]


def _const(value: str) -> Callable[[], str]:
    return lambda: value


def _vector_store(vector: Vector) -> InMemoryCredentialStore:
    credentials = derive_scram_credentials("pencil", vector.mechanism, salt=base64.b64decode(vector.salt), iterations=4096)
    return InMemoryCredentialStore(scram={"user": {vector.mechanism: credentials}})


def _client(vector: Vector) -> ScramClient:
    return ScramClient(vector.mechanism, username="user", password="pencil", nonce=_const(vector.client_nonce),
                       salted_password_cache=None)


def _server(vector: Vector) -> ScramServer:
    return ScramServer(vector.mechanism, _vector_store(vector), nonce=_const(vector.server_nonce))


@pytest.mark.parametrize("vector", VECTORS)
def test_rfc_vector_client_side(vector: Vector) -> None:
    client = _client(vector)
    assert client.initial_response() == vector.client_first
    assert client.respond(vector.server_first) == vector.client_final
    assert client.respond(vector.server_final) == b""
    assert not client.complete
    client.verify_success(None)
    assert client.complete


@pytest.mark.parametrize("vector", VECTORS)
def test_rfc_vector_server_side(vector: Vector) -> None:
    server = _server(vector)
    assert server.start(vector.client_first) == Challenge(data=vector.server_first)
    result = server.step(vector.client_final)
    assert result == Success(authcid="user", authzid="", additional_data=vector.server_final)


@pytest.mark.parametrize("vector", VECTORS)
def test_rfc_vector_both_sides_with_server_final_as_success_data(vector: Vector) -> None:
    result, transcript = run_exchange(_client(vector), _server(vector))
    assert isinstance(result, Success)
    assert transcript == [("C", vector.client_first), ("S", vector.server_first), ("C", vector.client_final)]


@pytest.mark.parametrize("vector", VECTORS)
def test_rfc_vector_without_initial_response(vector: Vector) -> None:
    """IMAP without SASL-IR: an empty first challenge, then the same exchange."""
    result, transcript = run_exchange(_client(vector), _server(vector), use_initial_response=False)
    assert isinstance(result, Success)
    assert transcript[:2] == [("S", b""), ("C", vector.client_first)]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_password_store_round_trip_and_wrong_password(mechanism: str) -> None:
    store = InMemoryCredentialStore({"alice": "secret"})
    good = create_client(mechanism, username="alice", password="secret")
    result, _ = run_exchange(good, create_server(mechanism, store))
    assert isinstance(result, Success) and result.authcid == "alice"
    bad = create_client(mechanism, username="alice", password="wrong")
    assert run_exchange(bad, create_server(mechanism, store))[0] == Failure(reason="invalid-proof")
    unknown = create_client(mechanism, username="nobody", password="secret")
    assert run_exchange(unknown, create_server(mechanism, store))[0] == Failure(reason="invalid-proof")


def test_user_names_with_comma_and_equals_are_escaped() -> None:
    assert encode_saslname("a,b=c") == "a=2Cb=3Dc"
    assert decode_saslname("a=2Cb=3Dc") == "a,b=c"
    for bad in ["", "a=", "a=2", "a=41", "a,b", "=3"]:
        assert decode_saslname(bad) is None
    store = InMemoryCredentialStore({"a,b=c": "pw"})
    client = create_client("SCRAM-SHA-256", username="a,b=c", password="pw", nonce=lambda: "abc")
    assert client.initial_response() == b"n,,n=a=2Cb=3Dc,r=abc"
    client = create_client("SCRAM-SHA-256", username="a,b=c", password="pw", authzid="x,y")
    result, transcript = run_exchange(client, create_server("SCRAM-SHA-256", store))
    assert transcript[0][1].startswith(b"n,a=x=2Cy,n=a=2Cb=3Dc,")
    assert result == Failure(reason="invalid-authzid")


def test_authzid_allowed_by_store() -> None:
    store = InMemoryCredentialStore({"admin": "pw"}, authorizations={"admin": ["bob"]})
    client = create_client("SCRAM-SHA-1", username="admin", password="pw", authzid="bob")
    result, _ = run_exchange(client, create_server("SCRAM-SHA-1", store))
    assert isinstance(result, Success) and (result.authcid, result.authzid) == ("admin", "bob")


def test_saslprep_on_both_sides() -> None:
    """RFC 5802 section 5.1: names and passwords are SASLprep'd (U+00AD maps to nothing)."""
    store = InMemoryCredentialStore({"user": "IX"})
    client = create_client("SCRAM-SHA-256", username="us\u00ader", password="I\u00adX")
    result, _ = run_exchange(client, create_server("SCRAM-SHA-256", store))
    assert isinstance(result, Success) and result.authcid == "user"


# --- client against a hostile server -------------------------------------------------------------

NONCE = "clientnonce"


def _first_sent(*, min_iterations: int = 4096, max_iterations: int = 600_000) -> ScramClient:
    client = ScramClient("SCRAM-SHA-256", username="user", password="pencil", nonce=_const(NONCE),
                         salted_password_cache=None, min_iterations=min_iterations, max_iterations=max_iterations)
    client.initial_response()
    return client


SALT = base64.b64encode(b"0123456789abcdef").decode()


@pytest.mark.parametrize(
    "server_first",
    [
        b"",
        b"garbage",
        b"r=clientnonceXYZ",
        b"r=clientnonceXYZ,s=" + SALT.encode(),
        b"r=othernonce,s=" + SALT.encode() + b",i=4096",
        b"r=clientnonce,s=" + SALT.encode() + b",i=4096",
        b"r=clientnonceX\x7fY,s=" + SALT.encode() + b",i=4096",
        b"r=clientnonceXYZ,s=!!!!,i=4096",
        b"r=clientnonceXYZ,s=,i=4096",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=0",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=-1",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=04096",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=abc",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=1000000000",
        b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=99999999999999999999",
        b"s=" + SALT.encode() + b",r=clientnonceXYZ,i=4096",
        b"m=ext,r=clientnonceXYZ,s=" + SALT.encode() + b",i=4096",
        b"e=other-error",
        b"e=invalid-encoding,x=1,y=2",
        "r=clientnonceXYZ\u00e9,s=x,i=4096".encode(),
        b"r=clientnonceXYZ,,s=" + SALT.encode() + b",i=4096",
    ],
)
def test_client_refuses_malformed_server_first(server_first: bytes) -> None:
    with pytest.raises(SASLError) as info:
        _first_sent().respond(server_first)
    if server_first.startswith(b"e="):
        assert "the server refused" in str(info.value)


def test_client_accepts_server_first_extensions() -> None:
    client = _first_sent()
    final = client.respond(b"r=clientnonceXYZ,s=" + SALT.encode() + b",i=4096,x=future")
    assert final.startswith(b"c=biws,r=clientnonceXYZ,p=")


@pytest.mark.parametrize(("iterations", "accepted"), [(4095, False), (4096, True), (4097, True)])
def test_min_iterations_boundary(iterations: int, accepted: bool) -> None:
    server_first = f"r={NONCE}XYZ,s={SALT},i={iterations}".encode()
    if accepted:
        assert _first_sent().respond(server_first).startswith(b"c=")
    else:
        with pytest.raises(SASLError, match="min_iterations=4096"):
            _first_sent().respond(server_first)


@pytest.mark.parametrize(("iterations", "accepted"), [(4999, True), (5000, True), (5001, False)])
def test_max_iterations_boundary(iterations: int, accepted: bool) -> None:
    server_first = f"r={NONCE}XYZ,s={SALT},i={iterations}".encode()
    client = _first_sent(max_iterations=5000)
    if accepted:
        assert client.respond(server_first).startswith(b"c=")
    else:
        with pytest.raises(SASLError, match="max_iterations=5000"):
            client.respond(server_first)


def test_default_max_iterations_refuses_a_billion() -> None:
    with pytest.raises(SASLError, match="max_iterations=600000"):
        _first_sent().respond(f"r={NONCE}XYZ,s={SALT},i=1000000000".encode())


def test_iteration_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        ScramClient("SCRAM-SHA-1", username="u", password="p", min_iterations=10, max_iterations=9)
    with pytest.raises(ValueError):
        ScramClient("SCRAM-MD5", username="u", password="p")


def _final_sent() -> ScramClient:
    client = _first_sent()
    client.respond(f"r={NONCE}XYZ,s={SALT},i=4096".encode())
    return client


@pytest.mark.parametrize(
    "server_final",
    [b"v=" + base64.b64encode(b"\x00" * 32), b"v=!!", b"v=", b"e=invalid-proof", b"x=1", b"", b"garbage",
     "v=\u00e9".encode()],
)
def test_client_refuses_bad_server_final(server_final: bytes) -> None:
    with pytest.raises(SASLError):
        _final_sent().respond(server_final)
    with pytest.raises(SASLError):
        _final_sent().verify_success(server_final)


def test_success_without_server_signature_is_refused() -> None:
    """A server that says OK without proving the key is not trusted (RFC 5802 section 9)."""
    with pytest.raises(SASLError, match="without proving"):
        _final_sent().verify_success(None)
    with pytest.raises(SASLError):
        _first_sent().verify_success(None)
    with pytest.raises(SASLError):
        _first_sent().verify_success(b"v=abc")


def test_server_final_then_more_is_refused() -> None:
    store = InMemoryCredentialStore({"user": "pencil"})
    client = _first_sent()
    server = create_server("SCRAM-SHA-256", store)
    server.start(b"n,,n=user,r=" + NONCE.encode())
    step = server.step(b"")  # malformed: ends the exchange
    assert isinstance(step, Failure)
    client2 = create_client("SCRAM-SHA-256", username="user", password="pencil")
    server2 = create_server("SCRAM-SHA-256", store)
    first = server2.start(client2.initial_response())
    assert isinstance(first, Challenge)
    result = server2.step(client2.respond(first.data))
    assert isinstance(result, Success) and result.additional_data is not None
    assert client2.respond(result.additional_data) == b""
    with pytest.raises(SASLError):
        client2.respond(result.additional_data)
    with pytest.raises(SASLError):
        client2.verify_success(result.additional_data)
    client2.verify_success(None)
    with pytest.raises(SASLError):
        client2.respond(b"")
    assert client.complete is False


def test_client_refuses_nonempty_first_challenge() -> None:
    client = create_client("SCRAM-SHA-1", username="u", password="p")
    with pytest.raises(SASLError):
        client.respond(b"r=abc")


def test_client_nonce_must_be_printable_without_comma() -> None:
    for bad in ["", "a,b", "a b", "\u00e9"]:
        client = create_client("SCRAM-SHA-1", username="u", password="p", nonce=_const(bad))
        with pytest.raises(LocalProtocolError):
            client.initial_response()
    client = create_client("SCRAM-SHA-1", username="u", password="p")
    client.initial_response()
    with pytest.raises(LocalProtocolError):
        client.initial_response()


@pytest.mark.parametrize(
    ("username", "password", "authzid"),
    [
        ("", "p", ""),
        ("u", "", ""),
        ("u\r\n", "p", ""),
        ("u", "p\x00", ""),
        ("u", "p", "a\n"),
        ("u\x07", "p", ""),
        ("u", "\u00ad", ""),
        ("\u00ad", "p", ""),
    ],
)
def test_client_argument_errors(username: str, password: str, authzid: str) -> None:
    with pytest.raises(LocalProtocolError):
        ScramClient("SCRAM-SHA-256", username=username, password=password, authzid=authzid)


# --- server against a hostile client -------------------------------------------------------------

STORE = InMemoryCredentialStore({"user": "pencil"})


@pytest.mark.parametrize(
    ("client_first", "reason"),
    [
        (b"", "no gs2-header"),
        (b"n,", "no gs2-header"),
        (b"x,,n=user,r=abc", "bad channel-binding flag"),
        (b"p=tls-unique,,n=user,r=abc", "without -PLUS"),
        (b"p=bad name,,n=user,r=abc", "bad channel-binding name"),
        (b"n,b=x,n=user,r=abc", "bad authzid"),
        (b"n,a=x=41,n=user,r=abc", "bad authzid"),
        (b"n,a=,n=user,r=abc", "bad authzid"),
        (b"n,,m=ext,n=user,r=abc", "extensions-not-supported"),
        (b"n,,n=user", "client-first-message-bare"),
        (b"n,,r=abc,n=user", "must be n=, r="),
        (b"n,,n=,r=abc", "bad user name"),
        (b"n,,n=us=er,r=abc", "bad user name"),
        (b"n,,n=user,r=", "client-first-message-bare"),
        (b"n,,n=user,r=a\x7fb", "bad nonce"),
        (b"n,,n=user,r=abc\r\n", "CR, LF or NUL"),
        (b"n,,n=us\xffer,r=abc", "not UTF-8"),
        (b"n,,n=\x07,r=abc", "SASLprep"),
        ("n,,n=\u00ad,r=abc".encode(), "empty after SASLprep"),
        (b"n,,user,r=abc", "client-first-message-bare"),
    ],
)
def test_server_refuses_malformed_client_first(client_first: bytes, reason: str) -> None:
    result = create_server("SCRAM-SHA-256", STORE).start(client_first)
    assert isinstance(result, Failure)
    assert reason in result.reason


def _server_after_first(
    store: CredentialStore = STORE, cb: ChannelBinding | None = None, mechanism: str = "SCRAM-SHA-256",
    client_first: bytes = b"n,,n=user,r=abc",
) -> ScramServer:
    server = ScramServer(mechanism, store, nonce=lambda: "XYZ", channel_binding=cb)
    assert isinstance(server.start(client_first), Challenge)
    return server


@pytest.mark.parametrize(
    ("client_final", "reason"),
    [
        (b"", "no proof"),
        (b"c=biws,r=abcXYZ", "no proof"),
        (b"c=biws,p=AAAA", "client-final-message"),
        (b"r=abcXYZ,c=biws,p=AAAA", "must be c=, r="),
        (b"c=!!,r=abcXYZ,p=" + base64.b64encode(b"\x00" * 32), "bad channel binding"),
        (b"c=eSws,r=abcXYZ,p=" + base64.b64encode(b"\x00" * 32), "channel-bindings-dont-match"),
        (b"c=biws,r=abcXYW,p=" + base64.b64encode(b"\x00" * 32), "nonce does not match"),
        (b"c=biws,r=abcXYZ,p=!!!", "bad proof"),
        (b"c=biws,r=abcXYZ,p=" + base64.b64encode(b"\x00" * 20), "bad proof"),
        (b"c=biws,r=abcXYZ,p=" + base64.b64encode(b"\x00" * 32), "invalid-proof"),
        (b"c=biws,r=abcXYZ,p=" + base64.b64encode(b"\x00" * 32) + b"\xff", "not ASCII"),
        (b"c=biws,r=abcXYZ,,p=" + base64.b64encode(b"\x00" * 32), "client-final-message"),
    ],
)
def test_server_refuses_bad_client_final(client_final: bytes, reason: str) -> None:
    result = _server_after_first().step(client_final)
    assert isinstance(result, Failure)
    assert reason in result.reason


def test_unknown_user_gets_a_stable_salt_and_the_usual_iterations() -> None:
    """SECURITY A6.2: the salt of an unknown name does not change between attempts."""
    firsts = []
    for name in ["ghost", "ghost", "user"]:
        server = ScramServer("SCRAM-SHA-256", STORE, nonce=lambda: "XYZ")
        step = server.start(f"n,,n={name},r=abc".encode())
        assert isinstance(step, Challenge)
        firsts.append(step.data)
    assert firsts[0] == firsts[1]
    assert firsts[0].endswith(b",i=4096") and firsts[2].endswith(b",i=4096")
    assert firsts[0] != firsts[2]


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_unknown_user_costs_the_same_as_a_wrong_password(mechanism: str) -> None:
    """SECURITY A6.2: count the hash, HMAC and PBKDF2 calls on both paths (no timing)."""
    counts = []
    for username in ["user", "ghost"]:
        digest, calls = counting_hash("sha1" if mechanism == "SCRAM-SHA-1" else "sha256")
        server = ScramServer(mechanism, STORE, nonce=lambda: "XYZ", hash_functions=digest)
        client = create_client(mechanism, username=username, password="wrong", salted_password_cache=None)
        result, _ = run_exchange(client, server)
        assert result == Failure(reason="invalid-proof")
        counts.append(dict(calls))
    assert counts[0] == counts[1]
    assert counts[0]["hmac"] == 2 and counts[0]["h"] == 1 and "hi" not in counts[0]


class _DownStore(CredentialStore):
    def get_password(self, authcid: str) -> str | None:
        raise CredentialsUnavailable("down")

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        raise CredentialsUnavailable("down")


class _AuthorizeDown(CredentialStore):
    def get_password(self, authcid: str) -> str | None:
        return None

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        return STORE.get_scram(authcid, mechanism)

    def authorize(self, authcid: str, authzid: str) -> bool:
        raise CredentialsUnavailable("down")


def test_unavailable_store_is_temporary() -> None:
    result = create_server("SCRAM-SHA-1", _DownStore()).start(b"n,,n=user,r=abc")
    assert isinstance(result, Failure) and result.temporary
    client = create_client("SCRAM-SHA-1", username="user", password="pencil")
    result, _ = run_exchange(client, create_server("SCRAM-SHA-1", _AuthorizeDown()))
    assert isinstance(result, Failure) and result.temporary


def test_keys_of_the_wrong_size_are_treated_as_unknown() -> None:
    sha256 = derive_scram_credentials("pencil", "SCRAM-SHA-256", salt=b"s" * 16)

    class Confused(CredentialStore):
        def get_password(self, authcid: str) -> str | None:
            return None

        def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
            return sha256  # SHA-256 keys offered for SCRAM-SHA-1 as well

    client = create_client("SCRAM-SHA-1", username="user", password="pencil")
    assert run_exchange(client, create_server("SCRAM-SHA-1", Confused()))[0] == Failure(reason="invalid-proof")


# --- channel binding ---------------------------------------------------------------------------

CB = ChannelBinding(type="tls-exporter", data=b"\x01" * 32)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_plus_with_matching_binding(mechanism: str) -> None:
    client = create_client(mechanism, username="user", password="pencil", channel_binding=CB)
    first = client.initial_response()
    assert first is not None and first.startswith(b"p=tls-exporter,,n=user,r=")
    result, _ = run_exchange(create_client(mechanism, username="user", password="pencil", channel_binding=CB),
                             create_server(mechanism, STORE, channel_binding=CB))
    assert isinstance(result, Success)


def test_plus_with_other_binding_data_fails() -> None:
    other = ChannelBinding(type="tls-exporter", data=b"\x02" * 32)
    client = create_client("SCRAM-SHA-256-PLUS", username="user", password="pencil", channel_binding=other)
    result, _ = run_exchange(client, create_server("SCRAM-SHA-256-PLUS", STORE, channel_binding=CB))
    assert result == Failure(reason="channel-bindings-dont-match")


def test_plus_with_other_binding_type_fails() -> None:
    unique = ChannelBinding(type="tls-unique", data=b"\x01" * 12)
    client = create_client("SCRAM-SHA-256-PLUS", username="user", password="pencil", channel_binding=unique)
    result, _ = run_exchange(client, create_server("SCRAM-SHA-256-PLUS", STORE, channel_binding=CB))
    assert result == Failure(reason="unsupported-channel-binding-type")


def test_y_flag_is_accepted_without_plus_and_refused_as_downgrade_with_it() -> None:
    client = create_client("SCRAM-SHA-256", username="user", password="pencil", channel_binding=CB)
    first = client.initial_response()
    assert first is not None and first.startswith(b"y,,")
    result, _ = run_exchange(create_client("SCRAM-SHA-256", username="user", password="pencil", channel_binding=CB),
                             create_server("SCRAM-SHA-256", STORE))
    assert isinstance(result, Success)
    result, _ = run_exchange(create_client("SCRAM-SHA-256", username="user", password="pencil", channel_binding=CB),
                             create_server("SCRAM-SHA-256", STORE, channel_binding=CB))
    assert result == Failure(reason="server-does-support-channel-binding")


def test_plus_server_refuses_n_flag_and_plain_server_refuses_p_flag() -> None:
    server = create_server("SCRAM-SHA-256-PLUS", STORE, channel_binding=CB)
    assert server.start(b"n,,n=user,r=abc") == Failure(reason="channel-binding-not-supported")
    result = create_server("SCRAM-SHA-256", STORE, channel_binding=CB).start(b"p=tls-exporter,,n=user,r=abc")
    assert isinstance(result, Failure) and result.malformed


def test_plus_needs_binding_data_on_both_sides() -> None:
    with pytest.raises(LocalProtocolError):
        create_client("SCRAM-SHA-256-PLUS", username="user", password="pencil")
    with pytest.raises(LocalProtocolError):
        create_server("SCRAM-SHA-256-PLUS", STORE)
    with pytest.raises(LocalProtocolError):
        ChannelBinding(type="tls unique", data=b"")


def test_binding_data_cannot_be_swapped_by_the_client_final() -> None:
    """c= must carry the gs2-header the client sent first, plus the binding data."""
    server = _server_after_first(cb=CB, mechanism="SCRAM-SHA-256-PLUS", client_first=b"p=tls-exporter,,n=user,r=abc")
    forged = base64.b64encode(b"n,,").decode()
    result = server.step(f"c={forged},r=abcXYZ,p={base64.b64encode(bytes(32)).decode()}".encode())
    assert result == Failure(reason="channel-bindings-dont-match")


# --- SaltedPassword cache ------------------------------------------------------------------------


def test_salted_password_cache_skips_pbkdf2_the_second_time() -> None:
    cache = SaltedPasswordCache(max_entries=2)
    digest, calls = counting_hash("sha256")
    for _ in range(2):
        client = ScramClient("SCRAM-SHA-256", username="user", password="pencil", salted_password_cache=cache,
                             hash_functions=digest)
        assert isinstance(run_exchange(client, create_server("SCRAM-SHA-256", STORE))[0], Success)
    assert calls["hi"] == 1 and len(cache) == 1


@pytest.mark.parametrize(("entries", "kept"), [(1, 1), (2, 2), (3, 2)])
def test_salted_password_cache_max_entries_boundary(entries: int, kept: int) -> None:
    cache = SaltedPasswordCache(max_entries=2)
    digest, _ = counting_hash("sha1")
    for salt in range(entries):
        cache.salted_password(digest, b"pw", bytes([salt]), 10)
    assert len(cache) == kept


def test_salted_password_cache_is_bounded() -> None:
    cache = SaltedPasswordCache(max_entries=2)
    digest, calls = counting_hash("sha1")
    for salt in [b"a", b"b", b"c", b"a"]:
        cache.salted_password(digest, b"pw", salt, 10)
    assert len(cache) == 2 and calls["hi"] == 4
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        SaltedPasswordCache(max_entries=0)


# --- properties ----------------------------------------------------------------------------------


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_server_never_raises_on_arbitrary_bytes(first: bytes, final: bytes) -> None:
    server = ScramServer("SCRAM-SHA-256", STORE, nonce=lambda: "XYZ")
    step = server.start(first)
    if isinstance(step, Challenge):
        step = server.step(final)
    assert isinstance(step, Failure | Challenge)


@given(st.binary(max_size=200))
def test_server_never_raises_on_arbitrary_client_final(final: bytes) -> None:
    step = _server_after_first(cb=CB, mechanism="SCRAM-SHA-1-PLUS", client_first=b"p=tls-exporter,,n=user,r=abc").step(final)
    assert isinstance(step, Failure)


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_client_raises_only_sasl_error(server_first: bytes, server_final: bytes) -> None:
    client = _first_sent(max_iterations=5000, min_iterations=1)
    try:
        client.respond(server_first)
        client.respond(server_final)
    except SASLError:
        pass
    with pytest.raises(SASLError):
        client.verify_success(None)


_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)


@given(_names, _names, st.sampled_from(["SCRAM-SHA-1", "SCRAM-SHA-256"]))
def test_generated_users_round_trip(username: str, password: str, mechanism: str) -> None:
    store = InMemoryCredentialStore({username: password}, iterations=16)
    assert encode_saslname(username) == encode_saslname(username)
    assert decode_saslname(encode_saslname(username)) == username
    client = ScramClient(mechanism, username=username, password=password, min_iterations=16, salted_password_cache=None)
    result, _ = run_exchange(client, create_server(mechanism, store, dummy_iterations=16))
    assert isinstance(result, Success)
    assert (result.authcid, result.authzid) == (username, "")
    assert client.complete


def test_plus_asks_the_store_for_the_family_name() -> None:
    asked: list[str] = []

    class Strict(CredentialStore):
        def get_password(self, authcid: str) -> str | None:
            return None

        def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
            asked.append(mechanism)
            return STORE.get_scram(authcid, mechanism) if mechanism in ("SCRAM-SHA-1", "SCRAM-SHA-256") else None

    for mechanism in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]:
        client = create_client(mechanism, username="user", password="pencil", channel_binding=CB)
        result, _ = run_exchange(client, create_server(mechanism, Strict(), channel_binding=CB))
        assert isinstance(result, Success)
    assert asked == ["SCRAM-SHA-256", "SCRAM-SHA-1"]
