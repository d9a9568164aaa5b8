"""Conversion to and from the standard library's :class:`email.message.EmailMessage`.

Both directions go through bytes, so nothing is lost that the bytes hold:
:func:`to_email_message` parses ``bytes(message)`` with
``email.policy.default``; :func:`from_email_message` serialises the stdlib
object with CRLF line endings (RFC 5322 section 2.1) and parses the result.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.message import Message as StdlibMessage
from typing import TYPE_CHECKING

from ._policy import DEFAULT, Policy

if TYPE_CHECKING:
    from ._model import Message

__all__ = ["from_email_message", "to_email_message"]


def to_email_message(message: Message) -> EmailMessage:
    """Return ``message`` as an :class:`~email.message.EmailMessage` (``policy.default``)."""
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def from_email_message(message: StdlibMessage, *, policy: Policy = DEFAULT) -> Message:
    """Return a :class:`~rfcmail.message.Message` parsed from a stdlib message's bytes.

    Args:
        message: an :class:`email.message.Message` or
            :class:`~email.message.EmailMessage`, with any policy.
        policy: the rfcmail policy to parse with.
    """
    from ._parser import parse

    source_policy = message.policy if isinstance(message.policy, email.policy.EmailPolicy) else email.policy.compat32
    data = message.as_bytes(policy=source_policy.clone(linesep="\r\n"))
    return parse(data, policy=policy)
