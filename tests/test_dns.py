"""rfcmail.dns: dnspython outcomes mapped to permanent/temporary errors, name server parsing.

The records themselves are tested against a real dnsmasq in
tests/interop/test_dnsmasq.py; here the failure paths that need no records:
a name server that never answers (timeout), one that refuses the connection
(no name server left), and each dnspython exception class.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import dns.exception
import dns.name
import dns.resolver
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail.dns import AsyncDNSResolver, DNSResolver, _combine, _translate, parse_nameserver
from rfcmail.mx import AsyncResolver, MXFailure, MXLookupError, Resolver, resolve_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        ("ns.example:1", ("ns.example", 1)),
        ("ns.example:65535", ("ns.example", 65535)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize("bad", ["", ":53", "[::1", "[::1]x", "[]:53", "h:0", "h:65536", "h:x",
                                 "[::1]:", "h:"])
def test_parse_nameserver_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_nameserver(bad)


@pytest.mark.parametrize(
    ("exception_type", "failure", "permanent"),
    [
        (dns.resolver.NXDOMAIN, MXFailure.NXDOMAIN, True),
        (dns.resolver.YXDOMAIN, MXFailure.INVALID_DOMAIN, True),
        (dns.name.LabelTooLong, MXFailure.INVALID_DOMAIN, True),
        (dns.name.EmptyLabel, MXFailure.INVALID_DOMAIN, True),
        (dns.name.NameTooLong, MXFailure.INVALID_DOMAIN, True),
        (dns.exception.Timeout, MXFailure.TIMEOUT, False),
        (dns.resolver.LifetimeTimeout, MXFailure.TIMEOUT, False),
        (dns.resolver.NoNameservers, MXFailure.SERVFAIL, False),
        (dns.exception.FormError, MXFailure.SERVFAIL, False),
        (OSError, MXFailure.SERVFAIL, False),
    ],
)
def test_exception_mapping(exception_type: type[BaseException], failure: MXFailure,
                           permanent: bool) -> None:
    kwargs: dict[str, object] = {}
    if exception_type is dns.resolver.LifetimeTimeout:
        kwargs = {"timeout": 1.0, "errors": []}
    exception = exception_type(**kwargs)
    error = _translate(exception, "x.test", "MX")
    assert error.failure is failure and error.permanent is permanent
    assert error.name == "x.test"
    assert error.reply_hint[0] == ("5" if permanent else "4")


def test_resolvers_satisfy_the_protocols() -> None:
    assert isinstance(DNSResolver(["127.0.0.1"]), Resolver)
    assert isinstance(AsyncDNSResolver(["127.0.0.1"]), AsyncResolver)
    with pytest.raises(ValueError):
        DNSResolver([])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A UDP socket on loopback that reads queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_timeout_is_temporary_and_never_falls_back(silent_server: int) -> None:
    resolver = DNSResolver(["127.0.0.1"], port=silent_server, timeout=0.2, lifetime=0.4)
    with pytest.raises(MXLookupError) as info:
        resolver.resolve_mx("example.test")
    assert info.value.failure is MXFailure.TIMEOUT and not info.value.permanent
    with pytest.raises(MXLookupError) as info:
        resolve_targets("example.test", resolver)
    assert not info.value.permanent


def test_async_timeout_is_temporary(silent_server: int) -> None:
    resolver = AsyncDNSResolver(["127.0.0.1"], port=silent_server, timeout=0.2, lifetime=0.4)
    with pytest.raises(MXLookupError) as info:
        asyncio.run(resolver.resolve_addresses("host.test"))
    assert info.value.failure is MXFailure.TIMEOUT and not info.value.permanent


def test_refused_connection_is_temporary() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: ICMP port unreachable, no server left.
    resolver = DNSResolver(["127.0.0.1"], port=port, timeout=0.3, lifetime=0.6)
    with pytest.raises(MXLookupError) as info:
        resolver.resolve_mx("example.test")
    assert not info.value.permanent


def test_combining_a_and_aaaa_failures() -> None:
    temporary = MXLookupError("x: timed out", failure=MXFailure.TIMEOUT, name="x.test")
    permanent = MXLookupError("x: NXDOMAIN", failure=MXFailure.NXDOMAIN, name="x.test")
    with pytest.raises(MXLookupError) as info:
        _combine("x.test", [], [temporary])
    assert info.value is temporary
    with pytest.raises(MXLookupError) as info:
        _combine("x.test", [], [temporary, permanent])
    assert info.value is permanent
    empty = _combine("x.test", [], [])
    assert empty.addresses == () and empty.canonical_name is None


@given(text=st.text(max_size=60))
def test_parse_nameserver_arbitrary_text(text: str) -> None:
    try:
        host, port = parse_nameserver(text)
    except ValueError:
        return
    assert host and 1 <= port <= 65535


@given(address=st.ip_addresses(), port=st.integers(1, 65535))
def test_parse_nameserver_round_trip(address: object, port: int) -> None:
    text = str(address)
    written = f"[{text}]:{port}" if ":" in text else f"{text}:{port}"
    assert parse_nameserver(written) == (text, port)
    assert parse_nameserver(f"[{text}]" if ":" in text else text) == (text, 53)
