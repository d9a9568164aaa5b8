"""MX records, the RFC 5321 section 5.1 ordering, null MX, and the resolver Protocols.

This module is sans-IO: it never touches the network. It holds

* the data: :class:`MXRecord`, :class:`HostAddresses` (what a resolver
  answers), :class:`DeliveryTarget` and :class:`DeliveryPlan` (what a sender
  tries, in order);
* the errors: :class:`MXLookupError`, which says whether a failure is
  permanent (bounce now) or temporary (queue and retry), with the enhanced
  status code (RFC 3463) and the reply a server would send;
* the pure functions: :func:`order_mx` (sort by preference, randomise equal
  preferences with a random source given as an argument, drop the local host
  and everything not better than it), :func:`to_a_label`,
  :func:`parse_address_literal`, :func:`is_null_mx`;
* the resolver interfaces :class:`Resolver` and :class:`AsyncResolver`, with
  :class:`StaticResolver` / :class:`AsyncStaticResolver` for tests and closed
  networks (the DNS-backed ones live in :mod:`rfcmail.dns`);
* :func:`resolve_targets` and :func:`resolve_targets_async`, which ask a
  resolver and return the ordered (host, addresses) targets for a domain.

The RFCs: RFC 5321 section 5.1 (locating the target host, implicit MX, the
"loops back to myself" rule), RFC 974 (MX preference), RFC 7505 (null MX:
``0 .`` means "this domain accepts no mail", status 5.1.10), RFC 2181 section
10.3 (an MX must not name an alias; tolerated here and noted), RFC 5890 /
RFC 3490 (IDN domains go to DNS as A-labels). SECURITY.md rows A7.1 to A7.5.

The lookup logic is written once, as a generator that yields the queries it
needs and receives the answers; :func:`resolve_targets` drives it with a
synchronous resolver and :func:`resolve_targets_async` with an asynchronous
one, so both follow exactly the same rules.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections.abc import Callable, Generator, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

from ._abnf import ADDRESS_LITERAL_RE, DOMAIN_RE
from .errors import RfcmailError

__all__ = [
    "DEFAULT_MX_CONFIG",
    "AsyncResolver",
    "AsyncStaticResolver",
    "DeliveryPlan",
    "DeliveryTarget",
    "HostAddresses",
    "IPAddress",
    "MXConfig",
    "MXFailure",
    "MXLookupError",
    "MXRecord",
    "RandomSource",
    "Resolver",
    "StaticResolver",
    "is_null_mx",
    "order_mx",
    "parse_address_literal",
    "public_address_policy",
    "resolve_targets",
    "resolve_targets_async",
    "to_a_label",
]

IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
"""An IPv4 or IPv6 address object from :mod:`ipaddress`."""

_MAX_DOMAIN_LENGTH = 253  # RFC 1035 section 2.3.4, without the root's trailing dot


class MXFailure(enum.Enum):
    """Why a lookup or a plan failed. Each kind is either permanent or temporary."""

    NXDOMAIN = "nxdomain"
    """The name does not exist (permanent, 5.1.2)."""
    NULL_MX = "null-mx"
    """The domain publishes a null MX ``0 .`` (permanent, 5.1.10, RFC 7505)."""
    NO_ADDRESS = "no-address"
    """No MX and no A/AAAA records: nothing to deliver to (permanent, 5.1.2)."""
    INVALID_DOMAIN = "invalid-domain"
    """The domain is not a valid host name or address literal (permanent, 5.1.2)."""
    LOOPS_TO_SELF = "loops-to-self"
    """The local host is the best MX: mail loops back to myself (permanent, 5.4.6)."""
    NO_USABLE_HOST = "no-usable-host"
    """MX records exist but none gives an address we may use (permanent, 5.4.4)."""
    SERVFAIL = "servfail"
    """The name servers failed or refused (temporary, 4.4.3)."""
    TIMEOUT = "timeout"
    """The name servers did not answer in time (temporary, 4.4.3)."""


_PERMANENT = frozenset(
    {
        MXFailure.NXDOMAIN,
        MXFailure.NULL_MX,
        MXFailure.NO_ADDRESS,
        MXFailure.INVALID_DOMAIN,
        MXFailure.LOOPS_TO_SELF,
        MXFailure.NO_USABLE_HOST,
    }
)

# (reply code, enhanced status) per failure: RFC 3463 and RFC 7505 section 4.
_REPLIES: dict[MXFailure, tuple[int, str]] = {
    MXFailure.NXDOMAIN: (550, "5.1.2"),
    MXFailure.NULL_MX: (556, "5.1.10"),
    MXFailure.NO_ADDRESS: (550, "5.1.2"),
    MXFailure.INVALID_DOMAIN: (550, "5.1.2"),
    MXFailure.LOOPS_TO_SELF: (554, "5.4.6"),
    MXFailure.NO_USABLE_HOST: (554, "5.4.4"),
    MXFailure.SERVFAIL: (451, "4.4.3"),
    MXFailure.TIMEOUT: (451, "4.4.3"),
}


class MXLookupError(RfcmailError):
    """A lookup or a delivery plan failed; ``permanent`` says bounce or retry.

    Args:
        message: what went wrong, naming the domain or host.
        failure: the kind of failure; it decides ``permanent``, ``status``
            and ``reply_hint``.
        name: the domain or host name that failed.

    Attributes:
        permanent: True for NXDOMAIN, null MX, no address, invalid domain,
            "loops back to myself" and "no usable host": the message must be
            bounced. False for SERVFAIL and timeouts: queue and retry
            (RFC 5321 section 5.1).
        status: the RFC 3463 enhanced status code (``"5.1.10"`` for null MX).
        reply_hint: the full reply, for example ``"556 5.1.10 ..."``.
    """

    def __init__(self, message: str, *, failure: MXFailure, name: str) -> None:
        super().__init__(message)
        self.message = message
        self.failure = failure
        self.name = name
        self.permanent = failure in _PERMANENT
        code, status = _REPLIES[failure]
        self.status = status
        self.reply_hint = f"{code} {status} {message}"

    def __repr__(self) -> str:
        return f"MXLookupError({self.message!r}, failure={self.failure}, name={self.name!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class MXRecord:
    """One MX resource record (RFC 974, RFC 5321 section 5.1).

    Attributes:
        preference: 0 to 65535; lower is tried first.
        exchange: the host name, without a trailing dot; ``"."`` or ``""``
            stands for the root, which makes the record a null MX when it is
            the only one (RFC 7505).
    """

    preference: int
    exchange: str

    def __post_init__(self) -> None:
        if isinstance(self.preference, bool) or not isinstance(self.preference, int):
            raise TypeError("MXRecord.preference must be an int")
        if not 0 <= self.preference <= 0xFFFF:
            raise ValueError(f"MXRecord.preference must be 0..65535, got {self.preference}")
        if not isinstance(self.exchange, str):
            raise TypeError("MXRecord.exchange must be a str")

    @property
    def host(self) -> str:
        """The exchange in lower case without a trailing dot (``""`` for the root)."""
        return self.exchange.rstrip(".").lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostAddresses:
    """What a resolver answers for a host's A and AAAA records.

    Attributes:
        name: the name that was asked for.
        addresses: the addresses in the order the resolver gave them (RFC
            5321 section 5.1: the resolver orders a multihomed host's
            addresses; the sender tries them in that order). Empty when the
            name exists but has no address records.
        canonical_name: the name the answer was found under after following
            CNAMEs, or ``None`` when there was no alias.
    """

    name: str
    addresses: tuple[str, ...] = ()
    canonical_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryTarget:
    """One host to try, with the addresses to try for it, in order.

    Attributes:
        host: the MX exchange (or the domain itself for an implicit MX, or
            the literal for an address literal), as an A-label.
        preference: the MX preference (0 for implicit MX and literals).
        addresses: the addresses to connect to, in order, already filtered
            by the address policy and the caps.
        implicit: True when there were no MX records and the domain's own
            addresses are used (RFC 5321 section 5.1).
        canonical_name: set when ``host`` is an alias (CNAME); RFC 2181
            section 10.3 forbids MX records naming aliases, but they are
            common, so they are followed and noted.
    """

    host: str
    preference: int
    addresses: tuple[str, ...]
    implicit: bool = False
    canonical_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryPlan:
    """The ordered delivery targets for one domain.

    Attributes:
        domain: the domain as looked up (A-label, lower case), or the
            address literal.
        targets: the hosts to try, best first; never empty.
        notes: what was skipped or tolerated and why (hosts dropped by a
            cap or by the address policy, CNAME targets, temporary errors on
            some hosts), for logs and for ``rfcmail mx``.
    """

    domain: str
    targets: tuple[DeliveryTarget, ...]
    notes: tuple[str, ...] = ()

    def addresses(self) -> list[tuple[str, str]]:
        """Every (host, address) pair in the order they should be tried."""
        return [(target.host, address) for target in self.targets for address in target.addresses]


def public_address_policy(address: IPAddress) -> bool:
    """The default address policy: only globally routable unicast addresses.

    Refuses loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16,
    fc00::/7), link-local (169.254/16, fe80::/10), unspecified, multicast and
    reserved addresses, and IPv4-mapped IPv6 forms of them (SECURITY A7.4: an
    MX pointing inside the network must not turn the MTA into an internal
    relay). Allow more with :attr:`MXConfig.allowed_networks`.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return public_address_policy(address.ipv4_mapped)
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MXConfig:
    """How :func:`resolve_targets` builds a plan.

    Attributes:
        max_hosts: most MX hosts looked up and tried per domain (RFC 5321
            section 5.1 allows a limit; at least two should be tried).
        max_addresses_per_host: most addresses tried per host.
        max_addresses: most addresses in a whole plan.
        local_names: the names this MTA is known by; an MX naming one of them
            triggers the "loops back to myself" rule (RFC 5321 section 5.1).
        local_addresses: the addresses this MTA listens on; an MX host
            resolving to one of them counts as the local host too.
        allowed_networks: networks (CIDR strings) accepted even though the
            address policy refuses them, for example ``"127.0.0.0/8"`` in
            tests or ``"10.0.0.0/8"`` inside a closed network.
        address_policy: decides whether an address may be connected to; the
            default :func:`public_address_policy` refuses loopback, private
            and link-local addresses (SECURITY A7.4).
        allow_address_literals: accept ``[192.0.2.1]`` / ``[IPv6:...]``
            domains (RFC 5321 section 4.1.3); the address policy still
            applies to them.
    """

    max_hosts: int = 5
    max_addresses_per_host: int = 4
    max_addresses: int = 10
    local_names: frozenset[str] = frozenset()
    local_addresses: frozenset[str] = frozenset()
    allowed_networks: tuple[str, ...] = ()
    address_policy: Callable[[IPAddress], bool] = public_address_policy
    allow_address_literals: bool = True
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _local: frozenset[IPAddress] = field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in ("max_hosts", "max_addresses_per_host", "max_addresses"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MXConfig.{name} must be an int of at least 1, got {value!r}")
        networks = tuple(ipaddress.ip_network(text, strict=False) for text in self.allowed_networks)
        object.__setattr__(self, "_networks", networks)
        object.__setattr__(
            self, "local_names", frozenset(name.rstrip(".").lower() for name in self.local_names)
        )
        object.__setattr__(
            self, "_local", frozenset(ipaddress.ip_address(text) for text in self.local_addresses)
        )

    def address_allowed(self, address: IPAddress) -> bool:
        """True when ``address`` may be connected to under this configuration."""
        if any(address in network for network in self._networks):
            return True
        return self.address_policy(address)

    def is_local_address(self, address: IPAddress) -> bool:
        """True when ``address`` is one of :attr:`local_addresses`."""
        return address in self._local


DEFAULT_MX_CONFIG = MXConfig()
"""The configuration used when none is given."""


class RandomSource(Protocol):
    """Anything that shuffles a list in place, such as :class:`random.Random`."""

    def shuffle(self, x: MutableSequence[Any]) -> None:
        """Shuffle ``x`` in place."""


@runtime_checkable
class Resolver(Protocol):
    """A synchronous resolver for MX and address records.

    Both methods raise :class:`MXLookupError`: ``MXFailure.NXDOMAIN`` when
    the name does not exist, ``SERVFAIL`` or ``TIMEOUT`` when the answer could
    not be had. A name that exists but has no records of the type asked for
    answers an empty result (NODATA), never an error: that is what makes the
    implicit-MX rule safe (SECURITY A7.2).
    """

    def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """The MX records of ``domain`` (an A-label), empty when it has none."""

    def resolve_addresses(self, host: str) -> HostAddresses:
        """The A and AAAA records of ``host`` (an A-label)."""


@runtime_checkable
class AsyncResolver(Protocol):
    """The asynchronous twin of :class:`Resolver`, with the same error rules."""

    async def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """The MX records of ``domain`` (an A-label), empty when it has none."""

    async def resolve_addresses(self, host: str) -> HostAddresses:
        """The A and AAAA records of ``host`` (an A-label)."""


def _normalise_name(name: str) -> str:
    return name.rstrip(".").lower()


class StaticResolver:
    """A :class:`Resolver` answering from tables, for tests and closed networks.

    A name is known when it appears in any table (as an MX owner, an address
    owner or a CNAME alias); a known name with no records of the type asked
    for answers NODATA (empty), an unknown name NXDOMAIN. ``failures``
    simulates SERVFAIL or timeouts for chosen names.

    Args:
        mx: MX records per domain.
        addresses: addresses (strings) per host.
        cnames: alias name to target name; followed up to 8 times for both
            MX and address lookups (RFC 5321 section 5.1: "the resulting
            name is processed as if it were the initial name").
        failures: a failure kind per name, raised for every lookup of it.
    """

    _MAX_CNAME_CHAIN = 8

    def __init__(
        self,
        *,
        mx: Mapping[str, Iterable[MXRecord]] | None = None,
        addresses: Mapping[str, Iterable[str]] | None = None,
        cnames: Mapping[str, str] | None = None,
        failures: Mapping[str, MXFailure] | None = None,
    ) -> None:
        self._mx = {_normalise_name(k): tuple(v) for k, v in (mx or {}).items()}
        self._addresses = {_normalise_name(k): tuple(v) for k, v in (addresses or {}).items()}
        self._cnames = {_normalise_name(k): _normalise_name(v) for k, v in (cnames or {}).items()}
        self._failures = {_normalise_name(k): v for k, v in (failures or {}).items()}

    def _follow(self, name: str) -> str:
        name = _normalise_name(name)
        for _ in range(self._MAX_CNAME_CHAIN):
            failure = self._failures.get(name)
            if failure is not None:
                raise MXLookupError(f"lookup of {name} failed: {failure.value}",
                                    failure=failure, name=name)
            if name not in self._cnames:
                break
            name = self._cnames[name]
        else:
            raise MXLookupError(f"CNAME chain too long at {name}",
                                failure=MXFailure.SERVFAIL, name=name)
        if name not in self._mx and name not in self._addresses:
            raise MXLookupError(f"{name}: no such domain", failure=MXFailure.NXDOMAIN, name=name)
        return name

    def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """See :meth:`Resolver.resolve_mx`."""
        return self._mx.get(self._follow(domain), ())

    def resolve_addresses(self, host: str) -> HostAddresses:
        """See :meth:`Resolver.resolve_addresses`."""
        canonical = self._follow(host)
        asked = _normalise_name(host)
        return HostAddresses(
            name=asked,
            addresses=self._addresses.get(canonical, ()),
            canonical_name=canonical if canonical != asked else None,
        )


class AsyncStaticResolver:
    """An :class:`AsyncResolver` over the same tables as :class:`StaticResolver`."""

    def __init__(self, resolver: StaticResolver) -> None:
        self._resolver = resolver

    async def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """See :meth:`AsyncResolver.resolve_mx`."""
        return self._resolver.resolve_mx(domain)

    async def resolve_addresses(self, host: str) -> HostAddresses:
        """See :meth:`AsyncResolver.resolve_addresses`."""
        return self._resolver.resolve_addresses(host)


# -- pure functions ----------------------------------------------------------


def to_a_label(domain: str) -> str:
    """Return ``domain`` as a lower-case A-label domain without a trailing dot.

    Non-ASCII labels are converted with IDNA (RFC 3490 as implemented by the
    standard library's ``idna`` codec), so ``bücher.example`` becomes
    ``xn--bcher-kva.example``. The result must match the RFC 5321 ``Domain``
    rule and fit in 253 octets.

    Raises:
        MXLookupError: ``INVALID_DOMAIN`` (permanent) when the name cannot be
            converted or is not a valid domain.
    """
    name = domain[:-1] if domain.endswith(".") else domain
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise MXLookupError(f"{domain!r} is not a valid internationalised domain: {exc}",
                                failure=MXFailure.INVALID_DOMAIN, name=domain) from None
    name = name.lower()
    if len(name) > _MAX_DOMAIN_LENGTH or not DOMAIN_RE.match(name) or any(
        len(label) > 63 for label in name.split(".")
    ):
        raise MXLookupError(f"{domain!r} is not a valid domain name",
                            failure=MXFailure.INVALID_DOMAIN, name=domain)
    return name


def parse_address_literal(literal: str) -> IPAddress:
    """Parse an RFC 5321 address literal: ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``.

    Raises:
        MXLookupError: ``INVALID_DOMAIN`` when it is not an IPv4 or IPv6
            address literal (general address literals name no address we
            can connect to).
    """
    if not ADDRESS_LITERAL_RE.match(literal):
        raise MXLookupError(f"{literal!r} is not an address literal",
                            failure=MXFailure.INVALID_DOMAIN, name=literal)
    inner = literal[1:-1]
    try:
        if inner[:5].lower() == "ipv6:":
            return ipaddress.IPv6Address(inner[5:])
        return ipaddress.IPv4Address(inner)
    except ValueError:
        raise MXLookupError(f"{literal!r} is not an IPv4 or IPv6 address literal",
                            failure=MXFailure.INVALID_DOMAIN, name=literal) from None


def is_null_mx(records: Sequence[MXRecord]) -> bool:
    """True when ``records`` is a null MX: one record whose exchange is the root.

    RFC 7505 section 3: the preference is 0 by convention but it is the
    ``.`` target that makes a null MX; ``0 mx.example`` is an ordinary MX
    (SECURITY A7.1).
    """
    return len(records) == 1 and records[0].host == ""


def order_mx(
    records: Sequence[MXRecord],
    *,
    rng: RandomSource | None = None,
    local_names: Iterable[str] = (),
) -> list[MXRecord]:
    """Sort MX records for delivery, as RFC 5321 section 5.1 says.

    Records are sorted by preference (lower first); records of equal
    preference are shuffled with ``rng`` to spread load. When one of the
    exchanges is a name of the local host, that record and every record of
    equal or higher preference number are dropped. Root targets (``.``) are
    dropped: they name no host.

    Args:
        records: the MX records of one domain.
        rng: the random source (``random.Random(seed)`` for determinism);
            a fresh :class:`random.SystemRandom` by default.
        local_names: the names this MTA is known by.

    Raises:
        MXLookupError: ``NULL_MX`` for a null MX (RFC 7505), ``LOOPS_TO_SELF``
            when the local host is among the best records so nothing is left.
    """
    if is_null_mx(records):
        raise MXLookupError("domain does not accept mail (null MX, RFC 7505)",
                            failure=MXFailure.NULL_MX, name="")
    source: RandomSource = rng if rng is not None else random.SystemRandom()
    groups: dict[int, list[MXRecord]] = {}
    for record in records:
        if record.host:
            groups.setdefault(record.preference, []).append(record)
    ordered: list[MXRecord] = []
    for preference in sorted(groups):
        group = groups[preference]
        source.shuffle(group)
        ordered.extend(group)
    local = {_normalise_name(name) for name in local_names}
    local_preferences = [record.preference for record in ordered if record.host in local]
    if local_preferences:
        cutoff = min(local_preferences)
        ordered = [record for record in ordered if record.preference < cutoff]
        if not ordered:
            raise MXLookupError("mail loops back to myself (the local host is the best MX)",
                                failure=MXFailure.LOOPS_TO_SELF, name="")
    return ordered


# -- the resolve-and-order logic, written once --------------------------------

_Query: TypeAlias = tuple[str, str]  # ("mx", domain) or ("addresses", host)
_Answer: TypeAlias = "Sequence[MXRecord] | HostAddresses | None"


def _plan(
    domain: str, config: MXConfig, rng: RandomSource | None
) -> Generator[_Query, _Answer, DeliveryPlan]:
    """Yield the DNS queries needed for ``domain``; return its delivery plan.

    The driver sends each answer back, or throws the resolver's
    :class:`MXLookupError` into the generator.
    """
    notes: list[str] = []
    if domain.startswith("["):
        return _literal_plan(domain, config)
    name = to_a_label(domain)
    try:
        answer = yield ("mx", name)
    except MXLookupError as exc:
        raise _renamed(exc, name) from None
    assert not isinstance(answer, HostAddresses) and answer is not None
    records = list(answer)
    if not records:
        # Implicit MX: only for "no MX records" (NODATA); NXDOMAIN and
        # temporary errors were raised above and never get here (A7.2).
        try:
            host_answer = yield ("addresses", name)
        except MXLookupError as exc:
            raise _renamed(exc, name) from None
        assert isinstance(host_answer, HostAddresses)
        usable = _usable_addresses(name, host_answer, config, notes)
        if not usable:
            if host_answer.addresses:
                raise MXLookupError(f"{name}: no usable address ({'; '.join(notes)})",
                                    failure=MXFailure.NO_USABLE_HOST, name=name)
            raise MXLookupError(f"{name}: no MX and no address records",
                                failure=MXFailure.NO_ADDRESS, name=name)
        target = DeliveryTarget(host=name, preference=0, addresses=tuple(usable), implicit=True,
                                canonical_name=host_answer.canonical_name)
        return DeliveryPlan(domain=name, targets=(target,), notes=tuple(notes))

    if any(record.host == "" for record in records) and not is_null_mx(records):
        notes.append("ignored an MX record with the root target '.' among other MX records")
    try:
        ordered = order_mx(records, rng=rng, local_names=config.local_names)
    except MXLookupError as exc:
        raise _renamed(exc, name) from None
    hosts: list[MXRecord] = []
    for record in ordered:
        if _looks_like_ip(record.host):
            notes.append(f"skipped MX {record.host}: an MX must name a host, not an address")
        else:
            hosts.append(record)
    if len(hosts) > config.max_hosts:
        dropped = ", ".join(record.host for record in hosts[config.max_hosts:])
        notes.append(f"max_hosts={config.max_hosts}: not trying {dropped}")
        hosts = hosts[: config.max_hosts]

    targets: list[DeliveryTarget] = []
    temporary: MXLookupError | None = None
    budget = config.max_addresses
    local_cutoff: int | None = None
    for record in hosts:
        if local_cutoff is not None and record.preference >= local_cutoff:
            break
        try:
            host_answer = yield ("addresses", record.host)
        except MXLookupError as exc:
            if not exc.permanent:
                temporary = temporary or exc
            notes.append(f"skipped MX {record.host}: {exc.message}")
            continue
        assert isinstance(host_answer, HostAddresses)
        if any(config.is_local_address(ipaddress.ip_address(a))
               for a in host_answer.addresses if _looks_like_ip(a)):
            # The local host under another name: drop it and everything
            # not better than it (RFC 5321 section 5.1).
            local_cutoff = record.preference
            targets = [t for t in targets if t.preference < local_cutoff]
            notes.append(f"MX {record.host} is this host (by address): "
                         f"dropped preference {record.preference} and above")
            continue
        if host_answer.canonical_name is not None:
            notes.append(f"MX {record.host} is an alias (CNAME) for "
                         f"{host_answer.canonical_name}; tolerated (RFC 2181 section 10.3)")
        usable = _usable_addresses(record.host, host_answer, config, notes)
        usable = usable[: min(config.max_addresses_per_host, budget)]
        if not usable:
            if not host_answer.addresses:
                notes.append(f"skipped MX {record.host}: no address records")
            continue
        budget -= len(usable)
        targets.append(DeliveryTarget(host=record.host, preference=record.preference,
                                      addresses=tuple(usable),
                                      canonical_name=host_answer.canonical_name))
        if budget == 0:
            notes.append(f"max_addresses={config.max_addresses} reached")
            break
    if not targets:
        if local_cutoff is not None and not any(r.preference < local_cutoff for r in hosts):
            raise MXLookupError(f"{name}: mail loops back to myself",
                                failure=MXFailure.LOOPS_TO_SELF, name=name)
        if temporary is not None:
            raise MXLookupError(f"{name}: no MX host could be resolved now ({temporary.message})",
                                failure=temporary.failure, name=name)
        raise MXLookupError(f"{name}: MX records exist but none is usable ({'; '.join(notes)})",
                            failure=MXFailure.NO_USABLE_HOST, name=name)
    return DeliveryPlan(domain=name, targets=tuple(targets), notes=tuple(notes))


def _renamed(exc: MXLookupError, name: str) -> MXLookupError:
    """The same failure, naming the domain when the resolver did not."""
    if exc.name:
        return exc
    return MXLookupError(f"{name}: {exc.message}", failure=exc.failure, name=name)


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _usable_addresses(
    host: str, answer: HostAddresses, config: MXConfig, notes: list[str]
) -> list[str]:
    usable: list[str] = []
    for text in answer.addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            notes.append(f"{host}: ignored a malformed address {text!r}")
            continue
        if not config.address_allowed(address):
            notes.append(f"{host}: refused {address} (not a public address; see allowed_networks)")
            continue
        if str(address) not in usable:
            usable.append(str(address))
    return usable


def _literal_plan(literal: str, config: MXConfig) -> DeliveryPlan:
    if not config.allow_address_literals:
        raise MXLookupError(f"{literal}: address literals are not accepted",
                            failure=MXFailure.INVALID_DOMAIN, name=literal)
    address = parse_address_literal(literal)
    if config.is_local_address(address):
        raise MXLookupError(f"{literal}: mail loops back to myself",
                            failure=MXFailure.LOOPS_TO_SELF, name=literal)
    if not config.address_allowed(address):
        raise MXLookupError(f"{literal}: {address} is not a public address",
                            failure=MXFailure.NO_USABLE_HOST, name=literal)
    target = DeliveryTarget(host=literal, preference=0, addresses=(str(address),))
    return DeliveryPlan(domain=literal, targets=(target,))


def _advance(
    plan: Generator[_Query, _Answer, DeliveryPlan], answer: _Answer, error: MXLookupError | None
) -> _Query | DeliveryPlan:
    """Send an answer (or throw a lookup error) into the plan; its next query or its result."""
    try:
        return plan.send(answer) if error is None else plan.throw(error)
    except StopIteration as stop:
        result: DeliveryPlan = stop.value
        return result


def resolve_targets(
    domain: str,
    resolver: Resolver,
    *,
    config: MXConfig = DEFAULT_MX_CONFIG,
    rng: RandomSource | None = None,
) -> DeliveryPlan:
    """Look up ``domain`` with ``resolver`` and return its ordered delivery targets.

    Applies RFC 5321 section 5.1 and RFC 7505 in full: address literals go
    straight to their address; IDN domains are converted to A-labels; MX
    records are ordered by :func:`order_mx`; a domain without MX records
    (NODATA) uses its own addresses (implicit MX), but NXDOMAIN and temporary
    failures never fall back; each MX host's addresses are filtered by the
    address policy and capped by :class:`MXConfig`.

    Raises:
        MXLookupError: permanent (bounce) or temporary (retry later).
    """
    plan = _plan(domain, config, rng)
    step = _advance(plan, None, None)
    while not isinstance(step, DeliveryPlan):
        kind, name = step
        try:
            answer = resolver.resolve_mx(name) if kind == "mx" else resolver.resolve_addresses(name)
        except MXLookupError as exc:
            step = _advance(plan, None, exc)
        else:
            step = _advance(plan, answer, None)
    return step


async def resolve_targets_async(
    domain: str,
    resolver: AsyncResolver,
    *,
    config: MXConfig = DEFAULT_MX_CONFIG,
    rng: RandomSource | None = None,
) -> DeliveryPlan:
    """The asynchronous :func:`resolve_targets`, with the same rules and errors."""
    plan = _plan(domain, config, rng)
    step = _advance(plan, None, None)
    while not isinstance(step, DeliveryPlan):
        kind, name = step
        try:
            if kind == "mx":
                answer: _Answer = await resolver.resolve_mx(name)
            else:
                answer = await resolver.resolve_addresses(name)
        except MXLookupError as exc:
            step = _advance(plan, None, exc)
        else:
            step = _advance(plan, answer, None)
    return step
