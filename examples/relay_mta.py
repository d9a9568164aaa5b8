"""A LAN relay: accepts mail from its own networks and forwards all of it to a smart host.

The classic "smart relay host" set-up: machines on the LAN send through this
relay, which queues every message durably and passes it on to the
organisation's (or the provider's) mail server, with STARTTLS and AUTH when
the smart host wants them. Clients outside the listed networks get
``554 5.7.1 Relay access denied`` (no open relay); nothing is delivered
locally.

Run it::

    python examples/relay_mta.py --data /tmp/relay --listen 127.0.0.1:2526 \\
        --network 127.0.0.0/8 --network 192.168.1.0/24 \\
        --smart-host smtp.example.net:587 --auth user:password

Queued mail survives restarts (``/tmp/relay/queue``); failed deliveries are
retried with back-off and bounced to the sender after five days.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from rfcmail.mta.delivery import SmartHost
from rfcmail.mta.service import MTA, MTAConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a LAN relay to a smart host")
    parser.add_argument("--data", type=Path, required=True, help="where the queue lives")
    parser.add_argument("--hostname", default="relay.lan", help="our name in greetings and trace fields")
    parser.add_argument("--listen", default="127.0.0.1:2526", help="HOST:PORT to listen on")
    parser.add_argument("--network", action="append", required=True, help="CIDR allowed to relay")
    parser.add_argument("--smart-host", required=True, help="HOST:PORT of the relay host")
    parser.add_argument("--auth", default=None, help="USER:PASSWORD for the smart host")
    return parser.parse_args()


async def main() -> None:
    args = parse_args()
    smart_name, _, smart_port = args.smart_host.rpartition(":")
    username, password = args.auth.split(":", 1) if args.auth else (None, None)
    mta = MTA(MTAConfig(
        hostname=args.hostname,
        data_dir=args.data,
        local_domains=(),
        relay_networks=tuple(args.network),
        smart_host=SmartHost(host=smart_name, port=int(smart_port), username=username, password=password),
    ))
    host, _, port = args.listen.rpartition(":")
    await mta.start(smtp=(host, int(port)))
    for name, bound_host, bound_port in mta.listening():
        print(f"{name} listening on {bound_host}:{bound_port}, relaying to {args.smart_host}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await mta.stop()


if __name__ == "__main__":
    asyncio.run(main())
