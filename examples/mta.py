"""A complete store-and-forward MTA built from rfcmail's pieces, in one screen.

It accepts mail over SMTP, refuses to be an open relay, writes every message
to a durable queue before answering 250, delivers local mail into Maildir,
finds the next hop for remote mail through DNS MX records (lowest preference
first, the next host when one is down), retries with back-off and bounces
what cannot be delivered.

Run it (dnspython is needed for MX lookups: ``pip install 'rfcmail[dns]'``)::

    python examples/mta.py --data /tmp/mta --domain example.org --user alice:secret \\
        --listen 127.0.0.1:2525 --relay-network 127.0.0.1/32

then send to it, for example with ``swaks -s 127.0.0.1 -p 2525 -t alice@example.org``.
Mail for alice lands in ``/tmp/mta/mail/alice/new``. Stop it with Ctrl-C:
queued mail stays in ``/tmp/mta/queue`` and is picked up at the next start.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from rfcmail.mta.service import MTA, MTAConfig
from rfcmail.mx import MXConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a store-and-forward MTA")
    parser.add_argument("--data", type=Path, required=True, help="queue and mailboxes")
    parser.add_argument("--hostname", default="localhost", help="our name in greetings and trace fields")
    parser.add_argument("--domain", action="append", required=True, help="a local domain (repeatable)")
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (repeatable)")
    parser.add_argument("--listen", default="127.0.0.1:2525", help="HOST:PORT for SMTP")
    parser.add_argument("--relay-network", action="append", default=[], help="CIDR allowed to relay")
    parser.add_argument("--nameserver", default=None, help="DNS server HOST:PORT (default: the system's)")
    parser.add_argument("--delivery-port", type=int, default=25, help="port of MX hosts")
    return parser.parse_args()


def make_resolver(nameserver: str | None) -> object:
    from rfcmail.dns import AsyncDNSResolver, parse_nameserver  # needs the 'dns' extra

    if nameserver is None:
        return AsyncDNSResolver()
    host, port = parse_nameserver(nameserver)
    return AsyncDNSResolver([host], port=port)


async def main() -> None:
    args = parse_args()
    users = dict(user.split(":", 1) for user in args.user)
    host, _, port = args.listen.rpartition(":")
    mta = MTA(MTAConfig(
        hostname=args.hostname,
        data_dir=args.data,
        local_domains=tuple(args.domain),
        users=users,
        relay_networks=tuple(args.relay_network),
        resolver=make_resolver(args.nameserver),  # type: ignore[arg-type]
        delivery_port=args.delivery_port,
        mx_config=MXConfig(local_names=frozenset({args.hostname})),
    ))
    await mta.start(smtp=(host, int(port)))
    for name, bound_host, bound_port in mta.listening():
        print(f"{name} listening on {bound_host}:{bound_port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await mta.stop()
    print(f"stopped; {len(mta.queue.ids())} message(s) left in the queue")


if __name__ == "__main__":
    asyncio.run(main())
