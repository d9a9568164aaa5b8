"""A real DNS server for MX tests: dnsmasq on a free loopback port (PEERS.md, "DNS for MX tests").

:func:`start_dnsmasq` runs Debian's dnsmasq in the foreground, answering for
the whole ``.test`` zone from its command line (so unknown names get
NXDOMAIN) and REFUSED for names outside it. The zone below covers every case
rfcmail.mx distinguishes; the addresses are loopback ones, so tests pass
``allowed_networks=("127.0.0.0/8", "::1/128")`` to the MX configuration.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from .framework import ProcessManager, free_port, require_program

__all__ = ["DNSMASQ_RECORDS", "Dnsmasq", "start_dnsmasq"]

# (option, value) pairs: the test zone.
DNSMASQ_RECORDS: tuple[tuple[str, str], ...] = (
    ("mx-host", "example.test,mx1.example.test,10"),
    ("mx-host", "example.test,mx2.example.test,20"),
    ("host-record", "mx1.example.test,127.0.0.1"),
    ("host-record", "mx2.example.test,127.0.0.2,::1"),
    # Three hosts of equal preference: the order must be randomised.
    ("mx-host", "equal.test,a.equal.test,10"),
    ("mx-host", "equal.test,b.equal.test,10"),
    ("mx-host", "equal.test,c.equal.test,10"),
    ("host-record", "a.equal.test,127.0.0.11"),
    ("host-record", "b.equal.test,127.0.0.12"),
    ("host-record", "c.equal.test,127.0.0.13"),
    # RFC 7505 null MX, and a preference-0 MX that is not null.
    ("mx-host", "nullmx.test,.,0"),
    ("mx-host", "zeromx.test,mx1.example.test,0"),
    # No MX at all: implicit MX to the domain's own address.
    ("host-record", "implicit.test,127.0.0.3"),
    # An MX naming an alias (CNAME), tolerated and noted.
    ("cname", "alias.test,mx1.example.test"),
    ("mx-host", "cnamemx.test,alias.test,10"),
    # A name that exists with neither MX nor address records.
    ("txt-record", "noaddr.test,nothing here"),
    # An MX resolving to a private address (refused by the default policy).
    ("mx-host", "private.test,inside.private.test,10"),
    ("host-record", "inside.private.test,10.9.8.7"),
    # The local host among the MXs.
    ("mx-host", "self.test,me.self.test,10"),
    ("mx-host", "self.test,backup.self.test,20"),
    ("mx-host", "self.test,best.self.test,5"),
    ("host-record", "me.self.test,127.0.0.4"),
    ("host-record", "backup.self.test,127.0.0.5"),
    ("host-record", "best.self.test,127.0.0.6"),
    # An MX naming a host that does not exist (NXDOMAIN for its addresses).
    ("mx-host", "dangling.test,nohost.dangling.test,10"),
    # An IDN domain, published as its A-label (bücher.test).
    ("mx-host", "xn--bcher-kva.test,mx1.example.test,10"),
)


@dataclass(frozen=True)
class Dnsmasq:
    """A running dnsmasq: where to ask it."""

    host: str
    port: int
    directory: Path

    @property
    def nameserver(self) -> str:
        """``HOST:PORT`` for ``rfcmail mx --nameserver``."""
        return f"{self.host}:{self.port}"


def _free_udp_and_tcp_port() -> int:
    for _ in range(50):
        port = free_port("127.0.0.1")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def start_dnsmasq(manager: ProcessManager,
                  records: tuple[tuple[str, str], ...] = DNSMASQ_RECORDS) -> Dnsmasq:
    """Start dnsmasq serving ``records`` (:data:`DNSMASQ_RECORDS` by default); ``manager`` stops it by pid."""
    program = require_program("dnsmasq")
    port = _free_udp_and_tcp_port()
    directory = manager.directory
    argv = [
        program, "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1",
        "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root",
        f"--pid-file={directory / 'dnsmasq.pid'}", "--log-facility=-", "--log-queries",
        "--local=/test/",
    ]
    argv += [f"--{option}={value}" for option, value in records]
    manager.start("dnsmasq", argv, port=port)
    return Dnsmasq(host="127.0.0.1", port=port, directory=directory)
