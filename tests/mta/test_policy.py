"""rfcmail.mta.policy: the open-relay battery of SECURITY A6.4 and local users (550 5.1.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.mta.policy import (
    InMemoryUserDirectory,
    RelayPolicy,
    Route,
    UserDirectory,
)

OUTSIDE = "203.0.113.9"


@pytest.fixture
def policy() -> RelayPolicy:
    users = InMemoryUserDirectory(["alice@local.test", "bob@bücher.test"], users=["postmaster"])
    return RelayPolicy(
        local_domains=frozenset({"local.test", "xn--bcher-kva.test"}),
        users=users,
        relay_networks=("192.0.2.0/24", "2001:db8::/32", "127.0.0.1/32"),
        local_addresses=frozenset({"198.51.100.1"}),
    )


def test_directory_protocol() -> None:
    assert isinstance(InMemoryUserDirectory(), UserDirectory)
    with pytest.raises(ValueError):
        InMemoryUserDirectory(["no-at-sign"])
    exact = InMemoryUserDirectory(["Alice@local.test"], case_sensitive=True)
    assert exact.has_user("Alice", "local.test") and not exact.has_user("alice", "local.test")


@pytest.mark.parametrize(
    "path",
    [
        "victim@remote.example",
        "<victim@remote.example>",
        "victim%remote.example@local.test",
        '"victim@remote.example"@local.test',
        "remote.example!victim@local.test",
        "@local.test:victim@remote.example",
        "<@local.test,@other.test:victim@remote.example>",
        "victim@remote.example.",
        "victim@[192.0.2.1]",
        "victim@[IPv6:2001:db8::1]",
        "VICTIM@REMOTE.EXAMPLE",
        "victim@xn--mnchen-3ya.example",
        "victim@münchen.example",
        "victim@locaI.test",
        "victim@local.test.remote.example",
        "victim@remote.example%local.test",
        '"victim%remote.example"@local.test',
        '"remote.example!victim"@local.test',
    ],
)
def test_relay_attempts_from_outside_are_refused(policy: RelayPolicy, path: str) -> None:
    decision = policy.check_recipient(path, client_address=OUTSIDE)
    assert decision.route is Route.REFUSED and not decision.accepted
    assert (decision.code, decision.status) in {(554, "5.7.1"), (550, "5.7.1"), (501, "5.1.3")}
    assert decision.reply.startswith(f"{decision.code} {decision.status} ")


@pytest.mark.parametrize(
    ("path", "local_part", "domain"),
    [
        ("alice@local.test", "alice", "local.test"),
        ("<alice@local.test>", "alice", "local.test"),
        ("ALICE@LOCAL.TEST", "ALICE", "local.test"),
        ("alice@local.test.", "alice", "local.test"),
        ('"alice"@local.test', "alice", "local.test"),
        ("bob@bücher.test", "bob", "xn--bcher-kva.test"),
        ("bob@XN--BCHER-KVA.test", "bob", "xn--bcher-kva.test"),
        ("postmaster@local.test", "postmaster", "local.test"),
        ("postmaster@[198.51.100.1]", "postmaster", "[198.51.100.1]"),
        ("@remote.example:alice@local.test", "alice", "local.test"),
    ],
)
def test_legitimate_local_recipients_are_accepted(policy: RelayPolicy, path: str,
                                                  local_part: str, domain: str) -> None:
    decision = policy.check_recipient(path, client_address=OUTSIDE)
    assert decision.route is Route.LOCAL and decision.reply == "250 2.1.5 OK"
    assert (decision.local_part, decision.domain) == (local_part, domain)
    assert decision.source_route_ignored == path.startswith("@")


def test_unknown_local_user_is_550_5_1_1(policy: RelayPolicy) -> None:
    decision = policy.check_recipient("mallory@local.test", client_address=OUTSIDE)
    assert decision.reply == "550 5.1.1 User unknown"
    # Trusted clients get the same answer: a local domain is never relayed.
    decision = policy.check_recipient("mallory@local.test", client_address="192.0.2.5")
    assert decision.code == 550


@pytest.mark.parametrize("client", ["192.0.2.5", "192.0.2.255", "2001:db8::7",
                                    "::ffff:192.0.2.5", "127.0.0.1", "fe80::1%eth0"])
def test_trusted_networks_may_relay(policy: RelayPolicy, client: str) -> None:
    decision = policy.check_recipient("friend@remote.example", client_address=client)
    if client.startswith("fe80"):
        assert decision.route is Route.REFUSED
    else:
        assert decision.route is Route.RELAY and decision.reply == "250 2.1.5 OK"
        assert decision.address == "friend@remote.example"


@pytest.mark.parametrize("client", ["192.0.3.1", "2001:db9::1", "127.0.0.2", "not an ip", "",
                                    None])
def test_untrusted_clients_may_not_relay(policy: RelayPolicy, client: str | None) -> None:
    decision = policy.check_recipient("friend@remote.example", client_address=client)
    assert decision.reply == "554 5.7.1 Relay access denied"


def test_authenticated_clients_may_relay(policy: RelayPolicy) -> None:
    decision = policy.check_recipient("friend@remote.example", client_address=OUTSIDE,
                                      authenticated_user="alice")
    assert decision.route is Route.RELAY
    strict = RelayPolicy(local_domains=frozenset({"local.test"}), users=InMemoryUserDirectory(),
                         relay_authenticated=False)
    assert not strict.check_recipient("friend@remote.example", client_address=OUTSIDE,
                                      authenticated_user="alice").accepted


def test_trusted_clients_are_not_given_routing_either(policy: RelayPolicy) -> None:
    # From inside, routing characters are taken literally: no such user, no relay.
    for path in ("victim%remote.example@local.test", '"victim@remote.example"@local.test'):
        decision = policy.check_recipient(path, client_address="192.0.2.5")
        assert decision.route is Route.REFUSED and decision.code == 550


@pytest.mark.parametrize("path", ["", "<>", "no-at-sign", "@local.test", "alice@", "alice@@local.test",
                                  "a b@local.test", "alice@local..test", "alice@-x.test",
                                  "alice@local.test..", "<alice@local.test", "alice@[300.1.1.1]",
                                  "alice\r\n@local.test", "x" * 600 + "@local.test",
                                  '"unterminated@local.test', "@:alice@local.test"])
def test_bad_syntax_is_501(policy: RelayPolicy, path: str) -> None:
    decision = policy.check_recipient(path, client_address="192.0.2.5")
    assert decision.reply == "501 5.1.3 Bad recipient address syntax"
    assert decision.address is None


def test_is_local_domain(policy: RelayPolicy) -> None:
    assert policy.is_local_domain("LOCAL.test.")
    assert policy.is_local_domain("bücher.test")
    assert policy.is_local_domain("[198.51.100.1]")
    assert not policy.is_local_domain("[198.51.100.2]")
    assert not policy.is_local_domain("[garbage]")
    assert not policy.is_local_domain("bad..name")


@given(path=st.text(max_size=80), client=st.one_of(st.none(), st.text(max_size=20),
                                                   st.ip_addresses().map(str)))
def test_arbitrary_input_never_relays_for_outsiders(path: str, client: str | None) -> None:
    policy = RelayPolicy(local_domains=frozenset({"local.test"}),
                         users=InMemoryUserDirectory(users=["alice"]),
                         relay_networks=("192.0.2.0/24",))
    decision = policy.check_recipient(path, client_address=client)
    trusted = policy.is_trusted(client, None)
    if not trusted:
        assert decision.route is not Route.RELAY
    if decision.accepted:
        assert decision.domain is not None and decision.local_part is not None


@given(local=st.from_regex(r"[a-z0-9][a-z0-9.+-]{0,15}", fullmatch=True).filter(
    lambda s: ".." not in s and not s.endswith(".")),
    domain=st.from_regex(r"[a-z][a-z0-9]{0,10}\.(example|org)", fullmatch=True))
def test_generated_remote_addresses_are_refused_then_relayed(local: str, domain: str) -> None:
    policy = RelayPolicy(local_domains=frozenset({"local.test"}), users=InMemoryUserDirectory(),
                         relay_networks=("192.0.2.0/24",))
    address = f"{local}@{domain}"
    assert policy.check_recipient(address, client_address=OUTSIDE).code == 554
    relayed = policy.check_recipient(address, client_address="192.0.2.1")
    assert relayed.route is Route.RELAY and relayed.address == address


@pytest.mark.parametrize("length", [63, 64, 65])
def test_max_path_length_boundary(length: int) -> None:
    policy = RelayPolicy(local_domains=frozenset({"local.test"}),
                         users=InMemoryUserDirectory(), max_path_length=64)
    local = "a" * (length - len("<@local.test>"))
    path = f"<{local}@local.test>"
    assert len(path) == length
    decision = policy.check_recipient(path, client_address=OUTSIDE)
    if length <= 64:
        assert decision.reply == "550 5.1.1 User unknown"  # parsed, then looked up
    else:
        assert decision.reply == "501 5.1.3 Bad recipient address syntax"
    with pytest.raises(ValueError):
        RelayPolicy(local_domains=frozenset(), users=InMemoryUserDirectory(), max_path_length=0)
