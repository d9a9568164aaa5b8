"""DNS resolvers for MX delivery on dnspython (the ``dns`` extra), sync and asyncio.

:class:`DNSResolver` implements :class:`rfcmail.mx.Resolver` and
:class:`AsyncDNSResolver` implements :class:`rfcmail.mx.AsyncResolver`; pass
either to :func:`rfcmail.mx.resolve_targets` / :func:`~rfcmail.mx.resolve_targets_async`.

dnspython's outcomes are mapped precisely, because RFC 5321 section 5.1 makes
the difference matter (SECURITY A7.2):

==============================  ==========================================
dnspython                       rfcmail
==============================  ==========================================
``NXDOMAIN``                    :class:`~rfcmail.mx.MXLookupError`, permanent (``NXDOMAIN``)
``NoAnswer`` (NODATA)           an empty answer: no records of that type (implicit MX)
``NoNameservers`` (SERVFAIL,    temporary (``SERVFAIL``): queue and retry, never fall back
REFUSED from every server)
``Timeout``                     temporary (``TIMEOUT``)
``YXDOMAIN``, bad names         permanent (``INVALID_DOMAIN``)
any other DNS or socket error   temporary (``SERVFAIL``)
==============================  ==========================================

Install with ``pip install 'rfcmail[dns]'``.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    import dns.asyncresolver
    import dns.exception
    import dns.name
    import dns.rdatatype
    import dns.resolver
    import dns.rdtypes.ANY.MX
except ImportError as exc:  # pragma: no cover - exercised only without dnspython
    raise ImportError(
        "rfcmail.dns needs dnspython, which the 'dns' extra installs: "
        "pip install 'rfcmail[dns]'"
    ) from exc

from .mx import HostAddresses, MXFailure, MXLookupError, MXRecord

__all__ = ["AsyncDNSResolver", "DNSResolver", "parse_nameserver"]

_DEFAULT_PORT = 53


def parse_nameserver(text: str) -> tuple[str, int]:
    """Split ``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT`` into (host, port).

    Raises:
        ValueError: the text is not of one of those forms, or the port is not
            1 to 65535.
    """
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not host or (rest and not rest.startswith(":")):
            raise ValueError(f"bad name server {text!r}: expected [IPv6] or [IPv6]:PORT")
        has_port, port_text = bool(rest), rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        has_port = True
    else:
        host, port_text, has_port = text, "", False
    if not host:
        raise ValueError(f"bad name server {text!r}: no host")
    if not has_port:
        return host, _DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad name server {text!r}: port must be 1..65535")
    return host, int(port_text)


def _configure(
    resolver: dns.resolver.BaseResolver,
    nameservers: Sequence[str] | None,
    port: int,
    timeout: float,
    lifetime: float,
) -> None:
    if nameservers is not None:
        if not nameservers:
            raise ValueError("nameservers must not be empty (pass None for the system's)")
        resolver.nameservers = list(nameservers)
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = lifetime


def _translate(exc: BaseException, name: str, rdtype: str) -> MXLookupError:
    """Map a dnspython (or socket) exception to a permanent or temporary error."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return MXLookupError(f"{name}: no such domain (NXDOMAIN)",
                             failure=MXFailure.NXDOMAIN, name=name)
    if isinstance(exc, dns.exception.Timeout):
        return MXLookupError(f"{name}: {rdtype} lookup timed out",
                             failure=MXFailure.TIMEOUT, name=name)
    if isinstance(exc, (dns.resolver.YXDOMAIN, dns.name.NameTooLong, dns.name.EmptyLabel,
                        dns.name.LabelTooLong, dns.name.BadEscape)):
        return MXLookupError(f"{name}: invalid name ({type(exc).__name__})",
                             failure=MXFailure.INVALID_DOMAIN, name=name)
    if isinstance(exc, dns.resolver.NoNameservers):
        return MXLookupError(f"{name}: {rdtype} lookup failed, no name server answered "
                             "(SERVFAIL or REFUSED)", failure=MXFailure.SERVFAIL, name=name)
    return MXLookupError(f"{name}: {rdtype} lookup failed ({type(exc).__name__}: {exc})",
                         failure=MXFailure.SERVFAIL, name=name)


_CAUGHT = (dns.exception.DNSException, OSError)


def _mx_records(answer: dns.resolver.Answer) -> list[MXRecord]:
    records: list[MXRecord] = []
    if answer.rrset is None:
        return records
    for rdata in answer.rrset:
        assert isinstance(rdata, dns.rdtypes.ANY.MX.MX)
        exchange = rdata.exchange
        text = "." if exchange == dns.name.root else exchange.to_text(omit_final_dot=True)
        records.append(MXRecord(preference=rdata.preference, exchange=text))
    return records


def _addresses(answer: dns.resolver.Answer) -> list[str]:
    if answer.rrset is None:
        return []
    return [rdata.to_text() for rdata in answer.rrset]


def _host_addresses(name: str, answers: Sequence[dns.resolver.Answer]) -> HostAddresses:
    addresses: list[str] = []
    canonical: str | None = None
    for answer in answers:
        addresses.extend(_addresses(answer))
        found = answer.canonical_name.to_text(omit_final_dot=True).lower()
        if found != name.lower():
            canonical = found
    return HostAddresses(name=name, addresses=tuple(addresses), canonical_name=canonical)


def _combine(name: str, answers: list[dns.resolver.Answer],
             errors: list[MXLookupError]) -> HostAddresses:
    """A and AAAA together: NXDOMAIN wins; one family failing temporarily is tolerated."""
    for error in errors:
        if error.permanent:
            raise error
    result = _host_addresses(name, answers)
    if errors and not result.addresses:
        raise errors[0]
    return result


class DNSResolver:
    """A synchronous :class:`rfcmail.mx.Resolver` on dnspython.

    Args:
        nameservers: the name servers' addresses; ``None`` reads the system
            configuration (``/etc/resolv.conf``).
        port: the name servers' port (with ``nameservers``).
        timeout: seconds to wait for one server's answer.
        lifetime: seconds for the whole lookup, retries included.
    """

    def __init__(self, nameservers: Sequence[str] | None = None, *, port: int = _DEFAULT_PORT,
                 timeout: float = 5.0, lifetime: float = 10.0) -> None:
        self._resolver = dns.resolver.Resolver(configure=nameservers is None)
        _configure(self._resolver, nameservers, port, timeout, lifetime)

    def _query(self, name: str, rdtype: str) -> dns.resolver.Answer:
        try:
            return self._resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except _CAUGHT as exc:
            raise _translate(exc, name, rdtype) from exc

    def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """See :meth:`rfcmail.mx.Resolver.resolve_mx`."""
        return _mx_records(self._query(domain, "MX"))

    def resolve_addresses(self, host: str) -> HostAddresses:
        """See :meth:`rfcmail.mx.Resolver.resolve_addresses` (A first, then AAAA)."""
        answers: list[dns.resolver.Answer] = []
        errors: list[MXLookupError] = []
        for rdtype in ("A", "AAAA"):
            try:
                answers.append(self._query(host, rdtype))
            except MXLookupError as exc:
                errors.append(exc)
                if exc.permanent:
                    break
        return _combine(host, answers, errors)


class AsyncDNSResolver:
    """An asyncio :class:`rfcmail.mx.AsyncResolver` on dnspython.

    Takes the same arguments as :class:`DNSResolver`.
    """

    def __init__(self, nameservers: Sequence[str] | None = None, *, port: int = _DEFAULT_PORT,
                 timeout: float = 5.0, lifetime: float = 10.0) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
        _configure(self._resolver, nameservers, port, timeout, lifetime)

    async def _query(self, name: str, rdtype: str) -> dns.resolver.Answer:
        try:
            return await self._resolver.resolve(name, rdtype, raise_on_no_answer=False,
                                                search=False)
        except _CAUGHT as exc:
            raise _translate(exc, name, rdtype) from exc

    async def resolve_mx(self, domain: str) -> Sequence[MXRecord]:
        """See :meth:`rfcmail.mx.AsyncResolver.resolve_mx`."""
        return _mx_records(await self._query(domain, "MX"))

    async def resolve_addresses(self, host: str) -> HostAddresses:
        """See :meth:`rfcmail.mx.AsyncResolver.resolve_addresses` (A first, then AAAA)."""
        answers: list[dns.resolver.Answer] = []
        errors: list[MXLookupError] = []
        for rdtype in ("A", "AAAA"):
            try:
                answers.append(await self._query(host, rdtype))
            except MXLookupError as exc:
                errors.append(exc)
                if exc.permanent:
                    break
        return _combine(host, answers, errors)
