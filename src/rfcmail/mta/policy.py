"""Relay policy: who may send mail where, decided at RCPT time.

The rules (RFC 5321 section 3.6 on relaying, RFC 2505 on relay control,
SECURITY.md row A6.4 on open relays):

* a recipient in one of the local domains is accepted when the user exists
  (``250 2.1.5``), refused with ``550 5.1.1`` when not (through a
  :class:`UserDirectory`);
* any other recipient is relayed only for clients in the configured networks
  (CIDR, IPv4 and IPv6) or authenticated clients; everyone else gets
  ``554 5.7.1 Relay access denied``;
* routing syntax is never honoured from outside: the percent hack
  (``victim%remote@local``, RFC 1123 section 5.2.16), bang paths
  (``remote!victim@local``), quoted local parts hiding an ``@``
  (``"victim@remote"@local``) all get ``554 5.7.1`` from untrusted clients;
  source routes (``@local:victim@remote``) are ignored as RFC 5321 section
  3.6 and appendix C say, so the real destination is what is judged;
* domains are compared case-insensitively and as A-labels, so ``LOCAL.TEST``,
  ``local.test.`` (one trailing dot) and ``bücher.test`` /
  ``xn--bcher-kva.test`` are each one domain; address literals are local only
  when they are one of the configured local addresses.

Nothing here does I/O; the decision is a value the SMTP server turns into its
reply.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .._abnf import ATEXT_UTF8, QTEXT_SMTP_UTF8, QUOTED_PAIR_SMTP
from ..mx import MXLookupError, parse_address_literal, to_a_label

#: to_a_label for the domains of RCPT TO, which repeat from message to message
#: (invalid ones raise and are not kept).
_a_label = functools.lru_cache(maxsize=1024)(to_a_label)

__all__ = [
    "InMemoryUserDirectory",
    "RecipientDecision",
    "RelayPolicy",
    "Route",
    "UserDirectory",
]

_DOT_STRING_RE = re.compile(rf"{ATEXT_UTF8}+(?:\.{ATEXT_UTF8}+)*\Z")
_QUOTED_RE = re.compile(rf'"(?:{QTEXT_SMTP_UTF8}|{QUOTED_PAIR_SMTP})*"\Z')
_ROUTE_RE = re.compile(r"@[^,:@\s]+(?:,@[^,:@\s]+)*:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ROUTING_CHARACTERS = frozenset("%!@")


@runtime_checkable
class UserDirectory(Protocol):
    """Says whether a local mailbox exists."""

    def has_user(self, local_part: str, domain: str) -> bool:
        """True when ``local_part@domain`` (domain as an A-label) is a mailbox here."""


class InMemoryUserDirectory:
    """A :class:`UserDirectory` over a fixed set of addresses.

    Args:
        addresses: full mailbox addresses (``alice@example.test``).
        users: local parts that exist in every local domain.
        case_sensitive: compare local parts exactly (RFC 5321 section 2.4
            allows it); by default they are folded to lower case, as most
            servers do.
    """

    def __init__(self, addresses: Iterable[str] = (), *, users: Iterable[str] = (),
                 case_sensitive: bool = False) -> None:
        self._case_sensitive = case_sensitive
        self._addresses: set[tuple[str, str]] = set()
        for address in addresses:
            local, at, domain = address.rpartition("@")
            if not at or not local:
                raise ValueError(f"not a mailbox address: {address!r}")
            self._addresses.add((self._fold(local), to_a_label(domain)))
        self._users = {self._fold(user) for user in users}

    def _fold(self, local_part: str) -> str:
        return local_part if self._case_sensitive else local_part.lower()

    def has_user(self, local_part: str, domain: str) -> bool:
        """See :meth:`UserDirectory.has_user`."""
        local = self._fold(local_part)
        return local in self._users or (local, domain.lower()) in self._addresses


class Route(enum.Enum):
    """Where an accepted recipient goes, or that it was refused."""

    LOCAL = "local"
    """Delivered here."""
    RELAY = "relay"
    """Queued for delivery elsewhere (MX lookup or a smart host)."""
    REFUSED = "refused"
    """Not accepted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientDecision:
    """The policy's answer for one RCPT.

    Attributes:
        route: local, relay or refused.
        code: the SMTP reply code (250, 501, 550, 554).
        status: the RFC 3463 enhanced status code.
        text: the reply text.
        local_part: the local part (unquoted), when the address parsed.
        domain: the domain as an A-label in lower case (or the address
            literal), when the address parsed.
        source_route_ignored: True when a source route was present and
            dropped (RFC 5321 section 3.6).
    """

    route: Route
    code: int
    status: str
    text: str
    local_part: str | None = None
    domain: str | None = None
    source_route_ignored: bool = False

    @property
    def accepted(self) -> bool:
        """True for a 2xx decision."""
        return self.route is not Route.REFUSED

    @property
    def reply(self) -> str:
        """The full reply line, for example ``"554 5.7.1 Relay access denied"``."""
        return f"{self.code} {self.status} {self.text}"

    @property
    def address(self) -> str | None:
        """``local_part@domain`` with the normalised domain, when parsed."""
        if self.local_part is None or self.domain is None:
            return None
        return f"{self.local_part}@{self.domain}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parsed:
    local_part: str
    quoted: bool
    domain: str
    literal: bool
    route: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayPolicy:
    """Accept local mail, relay only for trusted clients, refuse everything else.

    Attributes:
        local_domains: the domains delivered here (any case, U- or A-labels).
        relay_networks: client networks allowed to relay, as CIDR strings
            (``"192.0.2.0/24"``, ``"2001:db8::/32"``, ``"127.0.0.1/32"``).
        users: the directory of local mailboxes.
        local_addresses: this host's addresses; ``user@[addr]`` is local only
            for these.
        relay_authenticated: let authenticated clients relay (the submission
            case, RFC 6409); True by default.
        max_path_length: the longest forward path accepted, in characters,
            brackets included; longer ones get ``501 5.1.3`` (RFC 5321
            section 4.5.3.1.3 sets 256 octets as the minimum to support).
    """

    local_domains: frozenset[str]
    users: UserDirectory
    relay_networks: tuple[str, ...] = ()
    local_addresses: frozenset[str] = frozenset()
    relay_authenticated: bool = True
    max_path_length: int = 512
    _domains: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _addresses: frozenset[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(
        default=frozenset(), init=False, repr=False, compare=False
    )
    _trusted_cache: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_path_length < 1:
            raise ValueError("RelayPolicy.max_path_length must be at least 1")
        object.__setattr__(self, "_domains", frozenset(to_a_label(d) for d in self.local_domains))
        object.__setattr__(self, "_networks", tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in self.relay_networks))
        object.__setattr__(self, "_addresses", frozenset(
            ipaddress.ip_address(a) for a in self.local_addresses))


    # -- the parts

    def is_trusted(self, client_address: str | None, authenticated_user: str | None) -> bool:
        """True when the client may relay: an allowed network or an authenticated user."""
        if authenticated_user and self.relay_authenticated:
            return True
        if not client_address:
            return False
        cache = self._trusted_cache
        known = cache.get(client_address)
        if known is None:
            # A busy server sees the same clients again; the cache is bounded.
            if len(cache) >= 4096:
                cache.clear()
            known = cache[client_address] = self._in_networks(client_address)
        return known

    def _in_networks(self, client_address: str) -> bool:
        try:
            address = ipaddress.ip_address(client_address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def is_local_domain(self, domain: str) -> bool:
        """True when ``domain`` (any case, IDN form, address literal) is delivered here."""
        if domain.startswith("["):
            try:
                return parse_address_literal(domain) in self._addresses
            except MXLookupError:
                return False
        if domain in self._domains:
            return True
        try:
            return _a_label(domain) in self._domains
        except MXLookupError:
            return False

    # -- the decision

    def check_recipient(self, path: str, *, client_address: str | None,
                        authenticated_user: str | None = None) -> RecipientDecision:
        """Decide on one RCPT TO path.

        Args:
            path: the forward path as received, with or without angle
                brackets, possibly with a source route.
            client_address: the client's IP address (``None`` if unknown:
                untrusted).
            authenticated_user: the SASL identity, if the client authenticated.
        """
        parsed = self._parse(path, self.max_path_length)
        if parsed is None:
            return RecipientDecision(route=Route.REFUSED, code=501, status="5.1.3",
                                     text="Bad recipient address syntax")
        trusted = self.is_trusted(client_address, authenticated_user)
        if not self.is_local_domain(parsed.domain):
            if trusted:
                return _decision(Route.RELAY, 250, "2.1.5", "OK", parsed)
            return _decision(Route.REFUSED, 554, "5.7.1", "Relay access denied", parsed)
        if not trusted and _ROUTING_CHARACTERS & set(parsed.local_part):
            return _decision(Route.REFUSED, 554, "5.7.1",
                             "Routing syntax (%, !, @ in the local part) is not accepted", parsed)
        if not self.users.has_user(parsed.local_part, parsed.domain):
            return _decision(Route.REFUSED, 550, "5.1.1", "User unknown", parsed)
        return _decision(Route.LOCAL, 250, "2.1.5", "OK", parsed)

    @staticmethod
    def _parse(path: str, max_length: int) -> _Parsed | None:
        text = path.strip()
        if len(text) > max_length or _CONTROL_RE.search(text):
            return None
        if text.startswith("<"):
            if not text.endswith(">"):
                return None
            text = text[1:-1]
        route = False
        if text.startswith("@"):
            match = _ROUTE_RE.match(text)
            if match is None:
                return None
            text = text[match.end():]
            route = True
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain:
            return None
        quoted = local.startswith('"')
        if quoted:
            if not _QUOTED_RE.match(local):
                return None
            local = re.sub(r"\\(.)", r"\1", local[1:-1])
        elif not _DOT_STRING_RE.match(local):
            return None
        if len(local.encode("utf-8")) > 64 * 4:
            return None
        if domain.startswith("["):
            try:
                parse_address_literal(domain)
            except MXLookupError:
                return None
            return _Parsed(local_part=local, quoted=quoted, domain=domain, literal=True,
                           route=route)
        if domain.endswith(".."):
            return None
        try:
            normalised = _a_label(domain)
        except MXLookupError:
            return None
        return _Parsed(local_part=local, quoted=quoted, domain=normalised, literal=False,
                       route=route)


def _decision(route: Route, code: int, status: str, text: str, parsed: _Parsed) -> RecipientDecision:
    return RecipientDecision(route=route, code=code, status=status, text=text,
                             local_part=parsed.local_part, domain=parsed.domain,
                             source_route_ignored=parsed.route)
