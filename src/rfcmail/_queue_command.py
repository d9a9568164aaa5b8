"""``rfcmail queue``: what ``rfcmail serve`` holds in its queue, for an operator (a ``mailq``).

It reads the spools under a data directory (``queue`` and the worker spools
``queue-<n>``) without changing anything, so it is safe beside a running
server: no journal is replayed, nothing is quarantined or removed. A message
accepted in the last seconds may be missing from the list: until its entry
file is written (about two seconds after acceptance), it lives in the
journal and the server's memory. A damaged entry is listed as such; the
server moves it to ``quarantine/`` at its next start.

For each message: its id, spool, arrival, size, sender, attempts and next
attempt (RFC 5321 section 4.5.4.1 schedule), and each recipient's state
with the last reply and the host that gave it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .mta.queue import DeliveryState, Queue, QueueCorruptError, QueueEntry, UnknownQueueIdError

__all__ = ["add_queue_command", "list_queue"]


def add_queue_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``rfcmail queue``."""
    command = commands.add_parser(
        "queue", help="list the messages rfcmail serve has queued (read-only, safe while it runs)",
        description="List the messages queued under a data directory of rfcmail serve, with each "
                    "recipient's state and last reply. Read-only: safe beside a running server; "
                    "messages accepted in the last seconds may not be listed yet.",
    )
    command.add_argument("--data", type=Path, default=Path("rfcmail-data"),
                         help="the data directory of rfcmail serve (default ./rfcmail-data)")
    command.add_argument("--json", action="store_true", help="print a JSON document instead")
    command.set_defaults(func=_cmd_queue)


def _spools(data: Path) -> list[Path]:
    """The spool directories under ``data``: the main one first, then the workers' in order."""
    found = [data / "queue"] if (data / "queue" / "queue").is_dir() else []
    workers = {int(number): p for p in data.glob("queue-*")
               if (number := p.name.removeprefix("queue-")).isdigit() and (p / "queue").is_dir()}
    return found + [workers[number] for number in sorted(workers)]


def list_queue(data: Path) -> list[dict[str, Any]]:
    """Every message queued under ``data``, as JSON-ready dicts, oldest first within each spool.

    Raises:
        FileNotFoundError: ``data`` holds no queue of rfcmail serve.
    """
    spools = _spools(data)
    if not spools:
        raise FileNotFoundError(f"no queue of rfcmail serve under {data}")
    listed: list[dict[str, Any]] = []
    for spool in spools:
        queue = Queue(spool)
        try:
            for queue_id in queue.ids():
                try:
                    entry = queue.load(queue_id)
                except UnknownQueueIdError:
                    continue  # delivered and removed while we looked
                except QueueCorruptError as exc:
                    listed.append({"queue_id": queue_id, "spool": spool.name, "damaged": str(exc)})
                    continue
                listed.append(_describe(entry, spool.name))
        finally:
            queue.close()
    return listed


def _describe(entry: QueueEntry, spool: str) -> dict[str, Any]:
    envelope = entry.envelope
    return {
        "queue_id": entry.queue_id,
        "spool": spool,
        "arrival_time": _when(entry.arrival_time),
        "size": entry.size,
        "sender": envelope.reverse_path,
        "attempts": entry.attempts,
        "next_attempt": _when(entry.next_attempt) if entry.pending else None,
        "recipients": [{
            "address": status.recipient.address,
            "state": status.state.value,
            "reply": status.reply,
            "remote_mta": status.remote_mta,
        } for status in entry.recipients],
    }


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _shown(value: object) -> str:
    """Text for the terminal: a control character (a remote reply may hold an escape sequence) as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(value))


def _text(listed: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    pending = 0
    for item in listed:
        if "damaged" in item:
            lines.append(f"{item['queue_id']}  [{item['spool']}]  damaged: {_shown(item['damaged'])}")
            continue
        head = (f"{item['queue_id']}  [{item['spool']}]  {item['size']} octets  arrived "
                f"{item['arrival_time']}  from <{_shown(item['sender'])}>  attempts {item['attempts']}")
        if item["next_attempt"]:
            head += f"  next {item['next_attempt']}"
        lines.append(head)
        for recipient in item["recipients"]:
            line = f"    {recipient['state']:<9} <{_shown(recipient['address'])}>"
            if recipient["reply"]:
                line += f"  {_shown(recipient['reply'])}"
            if recipient["remote_mta"]:
                line += f"  ({_shown(recipient['remote_mta'])})"
            lines.append(line)
            pending += recipient["state"] == DeliveryState.PENDING.value
    messages = sum(1 for item in listed if "damaged" not in item)
    damaged = len(listed) - messages
    summary = f"{messages} message(s) queued, {pending} recipient(s) pending"
    if damaged:
        summary += f", {damaged} damaged entr{'y' if damaged == 1 else 'ies'}"
    lines.append(summary)
    return "\n".join(lines) + "\n"


def _cmd_queue(args: argparse.Namespace) -> int:
    try:
        listed = list_queue(args.data)
    except OSError as exc:
        print(f"rfcmail queue: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(listed, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(_text(listed))
    return 0
