"""The ``rfcmail`` command line.

Each subcommand lives in its own function and is registered in
:func:`build_parser`; ``python -m rfcmail`` and the ``rfcmail`` console script
run the same :func:`main`.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    result: int = func(args)
    return result
