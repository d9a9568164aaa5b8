"""PLAIN (RFC 4616): RFC examples, both sides, hostile input, limits."""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.errors import LocalProtocolError
from rfcmail.sasl import (
    Challenge,
    CredentialStore,
    CredentialsUnavailable,
    Failure,
    InMemoryCredentialStore,
    SASLError,
    ScramCredentials,
    Success,
    create_client,
    create_server,
    derive_scram_credentials,
)
from rfcmail.sasl.plain import PlainClient, PlainServer

from . import run_exchange

STORE = InMemoryCredentialStore(
    {"tim": "tanstaaftanstaaf", "Kurt": "xipj3plmq", "admin": "root-pw"},
    authorizations={"admin": ["tim"]},
)


def test_rfc4616_example_1_client_bytes_and_server_success() -> None:
    client = create_client("PLAIN", username="tim", password="tanstaaftanstaaf")
    assert client.has_initial_response
    server = create_server("PLAIN", STORE)
    result, transcript = run_exchange(client, server)
    assert transcript == [("C", b"\x00tim\x00tanstaaftanstaaf")]
    assert result == Success(authcid="tim", authzid="")
    assert client.complete and server.complete


def test_rfc4616_example_1_without_initial_response_gets_empty_challenge() -> None:
    client = create_client("PLAIN", username="tim", password="tanstaaftanstaaf")
    server = create_server("PLAIN", STORE)
    result, transcript = run_exchange(client, server, use_initial_response=False)
    assert transcript == [("S", b""), ("C", b"\x00tim\x00tanstaaftanstaaf")]
    assert isinstance(result, Success)


def test_rfc4616_example_2_kurt_may_not_act_as_ursel() -> None:
    client = create_client("PLAIN", username="Kurt", password="xipj3plmq", authzid="Ursel")
    assert client.initial_response() == b"Ursel\x00Kurt\x00xipj3plmq"
    server = create_server("PLAIN", STORE)
    result = server.start(b"Ursel\x00Kurt\x00xipj3plmq")
    assert isinstance(result, Failure)
    assert not result.malformed and "authzid" in result.reason


def test_authorized_proxy_login() -> None:
    server = create_server("PLAIN", STORE)
    assert server.start(b"tim\x00admin\x00root-pw") == Success(authcid="admin", authzid="tim")


def test_authzid_equal_to_authcid_is_allowed() -> None:
    server = create_server("PLAIN", STORE)
    assert server.start(b"tim\x00tim\x00tanstaaftanstaaf") == Success(authcid="tim", authzid="tim")


@pytest.mark.parametrize("message", [b"\x00tim\x00wrong", b"\x00nobody\x00tanstaaftanstaaf", b"\x00TIM\x00tanstaaftanstaaf"])
def test_wrong_password_and_unknown_user_fail_alike(message: bytes) -> None:
    result = create_server("PLAIN", STORE).start(message)
    assert result == Failure(reason="invalid credentials")


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"tim",
        b"\x00timtanstaaf",
        b"\x00tim\x00tanstaaf\x00",
        b"\x00\x00tim\x00pw",
        b"\x00\x00pw",
        b"\x00tim\x00",
        b"\x00tim\r\n\x00tanstaaftanstaaf",
        b"\x00tim\x00tanstaaf\ntanstaaf",
        b"x\ry\x00tim\x00tanstaaftanstaaf",
        b"\x00t\xffim\x00tanstaaftanstaaf",
        b"\x00tim\x00\xc3(",
        b"\x00tim\x07\x00tanstaaftanstaaf",
        "\x00\u00ad\x00tanstaaftanstaaf".encode(),
    ],
)
def test_malformed_messages_are_malformed_failures(message: bytes) -> None:
    """SECURITY A3.3: NUL-less, CR/LF/NUL-bearing, non-UTF-8 fields are refused."""
    result = create_server("PLAIN", STORE).start(message)
    assert isinstance(result, Failure)
    assert result.malformed
    assert "tim" not in result.reason and "tanstaaf" not in result.reason


@pytest.mark.parametrize("field", ["username", "password", "authzid"])
@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "a\r\nb"])
def test_client_refuses_cr_lf_nul(field: str, bad: str) -> None:
    """SECURITY A3.1: the error comes when the client is created, before any byte."""
    arguments = {"username": "tim", "password": "pw", "authzid": ""}
    arguments[field] = "x" + bad
    with pytest.raises(LocalProtocolError):
        PlainClient(**arguments)


@pytest.mark.parametrize("field", ["username", "password"])
def test_client_refuses_empty_credentials(field: str) -> None:
    arguments = {"username": "tim", "password": "pw"}
    arguments[field] = ""
    with pytest.raises(LocalProtocolError):
        PlainClient(**arguments)


def test_client_refuses_nonempty_first_challenge_and_a_second_one() -> None:
    client = create_client("PLAIN", username="tim", password="pw")
    with pytest.raises(SASLError):
        client.respond(b"hello")
    client = create_client("PLAIN", username="tim", password="pw")
    assert client.respond(b"") == b"\x00tim\x00pw"
    with pytest.raises(SASLError):
        client.respond(b"")


def test_client_refuses_success_data_and_challenge_after_success() -> None:
    client = create_client("PLAIN", username="tim", password="pw")
    client.initial_response()
    with pytest.raises(SASLError):
        client.verify_success(b"v=xyz")
    client.verify_success(None)
    assert client.complete
    with pytest.raises(SASLError):
        client.respond(b"")


@pytest.mark.parametrize(("size", "accepted"), [(63, True), (64, True), (65, False)])
def test_max_response_size_boundary(size: int, accepted: bool) -> None:
    store = InMemoryCredentialStore({"tim": "p" * (size - 5)})
    message = b"\x00tim\x00" + b"p" * (size - 5)
    assert len(message) == size
    result = PlainServer(store, max_response_size=64).start(message)
    if accepted:
        assert isinstance(result, Success)
    else:
        assert isinstance(result, Failure) and result.malformed
        assert "max_response_size=64" in result.reason


def test_default_accepts_255_octet_fields() -> None:
    """RFC 4616 section 2: a server must accept 255 octets in each field."""
    user, password, authzid = "u" * 255, "p" * 255, "u" * 255
    store = InMemoryCredentialStore({user: password})
    message = PlainClient(username=user, password=password, authzid=authzid).initial_response()
    assert create_server("PLAIN", store).start(message) == Success(authcid=user, authzid=authzid)


def test_call_order_errors_are_local() -> None:
    server = create_server("PLAIN", STORE)
    with pytest.raises(LocalProtocolError):
        server.step(b"\x00tim\x00tanstaaftanstaaf")
    assert isinstance(server.start(None), Challenge)
    with pytest.raises(LocalProtocolError):
        server.start(None)
    assert isinstance(server.step(b"\x00tim\x00tanstaaftanstaaf"), Success)
    with pytest.raises(LocalProtocolError):
        server.step(b"\x00tim\x00tanstaaftanstaaf")


def test_abort_ends_the_exchange() -> None:
    server = create_server("PLAIN", STORE)
    server.start(None)
    failure = server.abort()
    assert isinstance(failure, Failure) and server.complete
    with pytest.raises(LocalProtocolError):
        server.step(b"\x00tim\x00tanstaaftanstaaf")


def test_saslprep_applies_to_user_and_password() -> None:
    """RFC 4013 section 3: SOFT HYPHEN maps to nothing, so I<U+00AD>X matches IX."""
    store = InMemoryCredentialStore({"user": "IX", "\u2168": "pw"})
    assert isinstance(create_server("PLAIN", store).start("\x00user\x00I\u00adX".encode()), Success)
    # U+2168 ROMAN NUMERAL NINE normalises to "IX" under NFKC, in the user name too.
    result = create_server("PLAIN", store).start(b"\x00IX\x00pw")
    assert result == Success(authcid="IX", authzid="")


def test_store_with_only_scram_keys_serves_plain() -> None:
    credentials = derive_scram_credentials("s3cret", "SCRAM-SHA-256", salt=b"0123456789abcdef")
    store = InMemoryCredentialStore(scram={"eve": {"SCRAM-SHA-256": credentials}})
    assert store.get_password("eve") is None
    assert isinstance(create_server("PLAIN", store).start(b"\x00eve\x00s3cret"), Success)
    assert create_server("PLAIN", store).start(b"\x00eve\x00wrong") == Failure(reason="invalid credentials")


class _PasswordOnlyStore(CredentialStore):
    """A store with plain passwords and no SCRAM keys, with the default authorize()."""

    def get_password(self, authcid: str) -> str | None:
        return {"zoe": "pw"}.get(authcid)

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        return None


def test_password_only_duck_typed_store() -> None:
    store = _PasswordOnlyStore()
    assert create_server("PLAIN", store).start(b"\x00zoe\x00pw") == Success(authcid="zoe", authzid="")
    assert create_server("PLAIN", store).start(b"\x00zoe\x00pwx") == Failure(reason="invalid credentials")
    assert create_server("PLAIN", store).start(b"\x00zoe\x00p") == Failure(reason="invalid credentials")
    assert isinstance(create_server("PLAIN", store).start(b"other\x00zoe\x00pw"), Failure)


class _DownStore(CredentialStore):
    def get_password(self, authcid: str) -> str | None:
        raise CredentialsUnavailable("backend down")

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        raise CredentialsUnavailable("backend down")


def test_unavailable_store_is_a_temporary_failure() -> None:
    result = create_server("PLAIN", _DownStore()).start(b"\x00tim\x00pw")
    assert isinstance(result, Failure) and result.temporary


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = create_server("PLAIN", STORE).start(data)
    assert isinstance(result, Failure | Success)
    if isinstance(result, Success):
        assert data.split(b"\x00")[1:] in ([b"tim", b"tanstaaftanstaaf"], [b"Kurt", b"xipj3plmq"], [b"admin", b"root-pw"])


_field = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@given(_field, _field, st.one_of(st.just(""), _field))
def test_round_trip_generated_credentials(username: str, password: str, authzid: str) -> None:
    client = create_client("PLAIN", username=username, password=password, authzid=authzid)
    message = client.initial_response()
    assert message is not None
    assert message.split(b"\x00") == [authzid.encode(), username.encode(), password.encode()]
    server = create_server("PLAIN", _PasswordOnlyStore())
    result = server.start(message)
    assert isinstance(result, Success | Failure)


class _NoAuthorize:
    """A duck-typed store without authorize(): the default rule applies."""

    def get_password(self, authcid: str) -> str | None:
        return "pw" if authcid == "zoe" else None

    def get_scram(self, authcid: str, mechanism: str) -> ScramCredentials | None:
        return None


def test_store_without_authorize_gets_the_default_rule() -> None:
    store = cast(CredentialStore, _NoAuthorize())
    assert create_server("PLAIN", store).start(b"\x00zoe\x00pw") == Success(authcid="zoe", authzid="")
    assert create_server("PLAIN", store).start(b"zoe\x00zoe\x00pw") == Success(authcid="zoe", authzid="zoe")
    result = create_server("PLAIN", store).start(b"bob\x00zoe\x00pw")
    assert isinstance(result, Failure) and "authzid" in result.reason


def test_max_response_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PlainServer(STORE, max_response_size=0)
