"""The ``rfcmail`` command line.

Each subcommand lives in its own function and is registered in
:func:`build_parser`; ``python -m rfcmail`` and the ``rfcmail`` console script
run the same :func:`main`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from collections.abc import Sequence

from . import __version__
from .limits import DEFAULT_LIMITS

__all__ = ["build_parser", "main"]


def _cmd_limits(args: argparse.Namespace) -> int:
    """Print every default limit, one per line."""
    for field in dataclasses.fields(DEFAULT_LIMITS):
        print(f"{field.name} = {getattr(DEFAULT_LIMITS, field.name)}")
    return 0


def _cmd_mx(args: argparse.Namespace) -> int:
    """Print the delivery targets of a domain, best first (RFC 5321 section 5.1)."""
    from .mx import MXConfig, MXLookupError, resolve_targets

    try:
        from .dns import DNSResolver, parse_nameserver
    except ImportError as exc:
        print(f"rfcmail mx: {exc}", file=sys.stderr)
        return 2
    try:
        if args.nameserver:
            host, port = parse_nameserver(args.nameserver)
            resolver = DNSResolver([host], port=port, timeout=args.timeout,
                                   lifetime=args.timeout * 2)
        else:
            resolver = DNSResolver(timeout=args.timeout, lifetime=args.timeout * 2)
        networks = ("0.0.0.0/0", "::/0") if args.allow_private else tuple(args.allow_network)
        config = MXConfig(allowed_networks=networks, local_names=frozenset(args.local_name),
                          max_hosts=args.max_hosts)
    except ValueError as exc:
        print(f"rfcmail mx: {exc}", file=sys.stderr)
        return 2
    try:
        plan = resolve_targets(args.domain, resolver, config=config)
    except MXLookupError as exc:
        kind = "permanent" if exc.permanent else "temporary"
        print(f"{args.domain}: {kind} failure: {exc.reply_hint}", file=sys.stderr)
        return 1 if exc.permanent else 75  # 75 = EX_TEMPFAIL (sysexits.h)
    for target in plan.targets:
        flags = " (implicit MX)" if target.implicit else ""
        if target.canonical_name:
            flags += f" (alias of {target.canonical_name})"
        print(f"{target.preference} {target.host} {' '.join(target.addresses)}{flags}")
    for note in plan.notes:
        print(f"# {note}")
    return 0


def _add_mx_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mx = commands.add_parser(
        "mx", help="print a domain's mail delivery targets in the order they are tried",
        description="Look up a domain's MX records (or its implicit MX) and print one line "
                    "per host, best first: PREFERENCE HOST ADDRESS... Exit 0 on success, "
                    "1 on a permanent failure (NXDOMAIN, null MX), 75 on a temporary one.",
    )
    mx.add_argument("domain", metavar="DOMAIN", help="a domain, an IDN, or an address literal")
    mx.add_argument("--nameserver", metavar="HOST:PORT",
                    help="ask this name server (default: the system's resolvers)")
    mx.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                    help="seconds to wait for one answer (default 5)")
    mx.add_argument("--allow-network", action="append", default=[], metavar="CIDR",
                    help="accept targets in this network although not public (repeatable)")
    mx.add_argument("--allow-private", action="store_true",
                    help="accept loopback, private and link-local targets")
    mx.add_argument("--local-name", action="append", default=[], metavar="HOST",
                    help="a name of this host, for the loops-back-to-myself rule (repeatable)")
    mx.add_argument("--max-hosts", type=int, default=5, metavar="N",
                    help="most MX hosts to look up (default 5)")
    mx.set_defaults(func=_cmd_mx)


def _cmd_parse(args: argparse.Namespace) -> int:
    """Parse a message file and print its main header fields and part tree (or JSON)."""
    import json

    from .message import parse
    from .message._report import describe, format_report

    try:
        with open(args.file, "rb") as source:
            message = parse(source)
            output = json.dumps(describe(message), indent=2, ensure_ascii=False) + "\n" if args.json else format_report(message)
    except OSError as exc:
        print(f"rfcmail parse: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(output)
    return 0


def _add_parse_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "parse", help="print a message's main header fields and MIME part tree",
        description="Parse an RFC 5322 / MIME message file and print its main header fields "
                    "and its part tree (content types, parameters, sizes, transfer encodings, "
                    "defects), parts numbered as IMAP numbers them.",
    )
    command.add_argument("file", metavar="FILE", help="the message file (CRLF or LF line endings)")
    command.add_argument("--json", action="store_true", help="print the same as a JSON document")
    command.set_defaults(func=_cmd_parse)


def _add_serve_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ._queue_command import add_queue_command
    from ._serve import add_send_command, add_serve_command

    add_serve_command(commands)
    add_queue_command(commands)
    add_send_command(commands)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``rfcmail`` command."""
    parser = argparse.ArgumentParser(
        prog="rfcmail",
        description="Internet mail protocols built to the RFCs.",
    )
    parser.add_argument("--version", action="version", version=f"rfcmail {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    limits = commands.add_parser("limits", help="print the default protocol and parser limits")
    limits.set_defaults(func=_cmd_limits)
    _add_parse_command(commands)
    _add_mx_command(commands)
    _add_serve_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); return the exit code."""
    parser = build_parser()
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)
    # What came after the command, for commands that start copies of themselves.
    args.raw_argv = raw[raw.index(args.command) + 1:] if args.command in raw else []
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a shell tool does,
        # and keep the interpreter from failing again on its own final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + getattr(signal, "SIGPIPE", 13)  # 141, as a shell reports it (13 where not defined)
    return result
