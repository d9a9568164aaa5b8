"""The message builder: a typed, chainable way to compose a message.

:class:`MessageBuilder` collects the originator and destination fields (RFC
5322 sections 3.6.2 and 3.6.3), the subject and custom fields, a text body
and an HTML alternative (RFC 2046 section 5.1.4, multipart/alternative),
attachments (RFC 2183 Content-Disposition, RFC 2231 filenames), inline parts
referred to by Content-ID (RFC 2387 multipart/related, RFC 2392 ``cid:``)
and forwarded messages (RFC 2046 section 5.2.1, message/rfc822). It turns
them into a :class:`~rfcmail.message.MimePart` tree and hands that to
:func:`~rfcmail.message.generate`.

Date and Message-ID (RFC 5322 sections 3.6.1 and 3.6.4) are generated when
they are not given, from a clock and a random source that can be replaced
(``clock=`` and ``random_bytes=``), so tests and reproducible builds get
stable output. The builder never does I/O: streams given to it are read when
the message is built.
"""

from __future__ import annotations

import dataclasses
import mimetypes
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, BinaryIO, Final, TypeAlias

from . import headers as _headers
from ._generator import (
    _ADDRESS_FIELDS,
    Body,
    MimePart,
    SupportsBytes,
    generate,
    generate_to,
    parse_addresses_strictly,
)
from ._policy import DEFAULT, Policy

if TYPE_CHECKING:
    from typing import Self

    from ._model import Message

__all__ = ["AddressLike", "MessageBuilder", "guess_content_type"]

AddressLike: TypeAlias = "str | _headers.Address | _headers.Group"
"""An address argument: RFC 5322 text, or a header-helper value."""

_COMPRESSION_TYPES: Final = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "compress": "application/x-compress",
    "br": "application/x-brotli",
}
_BUILDER_FIELDS: Final = frozenset({"date", "message-id", "subject", "mime-version"}) | \
    _ADDRESS_FIELDS


def guess_content_type(filename: str | None) -> str:
    """The media type for ``filename`` from :mod:`mimetypes`, else application/octet-stream.

    A compressed file (``report.csv.gz``) is the compressed type, since that
    is what the octets are.
    """
    if not filename:
        return "application/octet-stream"
    content_type, compression = mimetypes.guess_type(filename, strict=False)
    if compression is not None:
        return _COMPRESSION_TYPES.get(compression, "application/octet-stream")
    return content_type or "application/octet-stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Attachment:
    body: Body
    content_type: str
    filename: str | None
    disposition: str
    content_id: str | None
    description: str | None
    charset: str | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class MessageBuilder:
    """Compose a message; each method returns the builder, so calls chain.

    Example::

        data = (MessageBuilder(from_="Alice <alice@example.org>",
                               to=["bob@example.org"], subject="Report")
                .text("See the attachment.\\n")
                .html("<p>See the <b>attachment</b>.</p>")
                .attach(pdf_bytes, filename="report.pdf")
                .build())

    Addresses are strings in RFC 5322 form (``"Zoë <zoe@example.org>"``,
    ``"a@example.org, b@example.org"``) or :class:`~rfcmail.message.headers.Address`
    and :class:`~rfcmail.message.headers.Group` values; they are parsed and
    written again, so display names are quoted or encoded as the policy needs.

    Args:
        from_: the author(s) (RFC 5322 section 3.6.2).
        to: primary recipients.
        cc: carbon-copy recipients.
        bcc: blind recipients: part of :attr:`recipients` for the SMTP
            envelope, but not written into the message unless ``write_bcc``.
        reply_to: where replies go.
        sender: the agent that sent it, when not the author.
        subject: the subject, any Unicode.
        date: the origination date; default: ``clock()`` when building.
        message_id: the Message-ID without angle brackets; default: made
            from ``random_bytes`` and the domain of the first From address.
        headers: further header fields, in order, as ``(name, value)``.
        write_bcc: write the Bcc field into the message (RFC 5322 section
            3.6.3 allows both).
        clock: gives the current time for Date.
        random_bytes: randomness for the Message-ID and the
            multipart boundaries.
    """

    def __init__(
        self,
        *,
        from_: AddressLike | Sequence[AddressLike] | None = None,
        to: AddressLike | Sequence[AddressLike] = (),
        cc: AddressLike | Sequence[AddressLike] = (),
        bcc: AddressLike | Sequence[AddressLike] = (),
        reply_to: AddressLike | Sequence[AddressLike] = (),
        sender: AddressLike | None = None,
        subject: str | None = None,
        date: datetime | None = None,
        message_id: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        write_bcc: bool = False,
        clock: Callable[[], datetime] = _now,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._from = _address_items(from_, "from_")
        self._to = _address_items(to, "to")
        self._cc = _address_items(cc, "cc")
        self._bcc = _address_items(bcc, "bcc")
        self._reply_to = _address_items(reply_to, "reply_to")
        self._sender = _address_items(sender, "sender")
        if len(self._sender) > 1:
            raise ValueError("sender is a single mailbox (RFC 5322 section 3.6.2)")
        self._subject = subject
        if date is not None and date.tzinfo is None:
            raise ValueError("date must be an aware datetime (RFC 5322 section 3.3 needs a zone)")
        self._date = date
        self._message_id = _check_message_id(message_id) if message_id is not None else None
        self._headers: list[tuple[str, str]] = []
        self._write_bcc = write_bcc
        self._clock = clock
        self._random_bytes = random_bytes
        self._text: MimePart | None = None
        self._html: MimePart | None = None
        self._inline: list[_Attachment] = []
        self._attachments: list[_Attachment | MimePart] = []
        for name, value in headers:
            self.header(name, value)

    # -- content -------------------------------------------------------------

    def text(self, text: str, *, charset: str | None = None, subtype: str = "plain") -> Self:
        """Set the text body (text/plain unless ``subtype`` says otherwise).

        Line breaks may be LF, CRLF or CR: text is made canonical (CRLF).
        """
        self._text = MimePart(content_type=f"text/{subtype}", body=text, charset=charset)
        return self

    def html(self, html: str, *, charset: str | None = None) -> Self:
        """Set the HTML body; with a text body too they become multipart/alternative."""
        self._html = MimePart(content_type="text/html", body=html, charset=charset)
        return self

    def attach(
        self,
        data: bytes | str | BinaryIO,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        charset: str | None = None,
        description: str | None = None,
        inline: bool = False,
    ) -> Self:
        """Add an attachment.

        Args:
            data: the octets, kept exactly, or a binary stream read when the
                message is built, or a ``str`` for a text attachment.
            filename: the name the recipient sees (any Unicode; written with
                RFC 2231 when needed). Directory parts are for the reader to
                strip; the builder writes what it is given.
            content_type: the media type; default: guessed from ``filename``
                with :mod:`mimetypes`, else application/octet-stream (or
                text/plain for ``str`` data).
            charset: the charset of ``str`` data, or the label for text octets.
            description: a Content-Description.
            inline: ask for inline display (Content-Disposition: inline).
        """
        if content_type is None:
            content_type = guess_content_type(filename)
            if isinstance(data, str) and content_type == "application/octet-stream":
                content_type = "text/plain"
        self._attachments.append(_Attachment(
            body=data, content_type=content_type, filename=filename,
            disposition="inline" if inline else "attachment", content_id=None,
            description=description, charset=charset))
        return self

    def inline(
        self,
        data: bytes | BinaryIO,
        *,
        content_id: str,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> Self:
        """Add a part the HTML body refers to as ``cid:<content_id>`` (RFC 2392).

        With an HTML body, the HTML and its inline parts become a
        multipart/related (RFC 2387); without one, the part is an inline
        attachment.
        """
        if content_type is None:
            content_type = guess_content_type(filename)
        self._inline.append(_Attachment(
            body=data, content_type=content_type, filename=filename, disposition="inline",
            content_id=_check_message_id(content_id, what="content_id"), description=None,
            charset=None))
        return self

    def attach_message(self, message: bytes | SupportsBytes | MimePart, *,
                       description: str | None = None, inline: bool = False) -> Self:
        """Forward a message as a message/rfc822 part (RFC 2046 section 5.2.1).

        Args:
            message: raw message bytes, a parsed :class:`~rfcmail.message.Message`
                (its exact bytes are used), or a :class:`MimePart` tree.
            description: a Content-Description, for example the subject.
            inline: display it inline rather than as an attachment.
        """
        disposition = "inline" if inline else "attachment"
        if isinstance(message, MimePart):
            part = MimePart(content_type="message/rfc822", parts=(message,),
                            disposition=disposition, description=description)
        else:
            part = MimePart(content_type="message/rfc822", body=message,
                            disposition=disposition, description=description)
        self._attachments.append(part)
        return self

    def header(self, name: str, value: str) -> Self:
        """Add a header field (after the standard ones, in the order given).

        The fields the builder writes itself (From, To, Cc, Bcc, Reply-To,
        Sender, Subject, Date, Message-ID, MIME-Version) and the Content-*
        fields are refused: use the constructor arguments.
        """
        lowered = name.lower()
        if lowered in _BUILDER_FIELDS or lowered.startswith("content-"):
            raise ValueError(f"{name} is written by the builder; use its argument instead")
        MimePart(headers=((name, value),))  # validates name and value now, not at build()
        self._headers.append((name, value))
        return self

    # -- results -------------------------------------------------------------

    @property
    def recipients(self) -> list[str]:
        """Every addr-spec of To, Cc and Bcc, in order, for the SMTP envelope (RCPT TO)."""
        found: list[str] = []
        for item in (*self._to, *self._cc, *self._bcc):
            for address in _mailboxes(item):
                found.append(address)
        return found

    def build_part(self, policy: Policy = DEFAULT) -> MimePart:
        """The :class:`MimePart` tree of the message, header fields included.

        Date and Message-ID are fixed here when they were not given.
        """
        root = self._body_tree()
        return dataclasses.replace(root, headers=tuple(self._header_fields(policy)))

    def build(self, policy: Policy = DEFAULT) -> bytes:
        """Generate the message with ``policy`` (default: 7bit-safe SMTP).

        Raises:
            ValueError: content the policy cannot carry (see
                :func:`~rfcmail.message.generate`).
        """
        return generate(self.build_part(policy), policy, random_bytes=self._random_bytes)

    def build_to(self, write: Callable[[bytes], object], policy: Policy = DEFAULT) -> int:
        """Generate the message into ``write`` piece by piece; see :func:`~rfcmail.message.generate_to`.

        Returns:
            The number of octets written.
        """
        return generate_to(self.build_part(policy), write, policy,
                           random_bytes=self._random_bytes)

    def build_message(self, policy: Policy = DEFAULT) -> Message:
        """Generate the message and parse it into a :class:`~rfcmail.message.Message`."""
        from ._parser import parse

        return parse(self.build(policy), policy=policy)

    # -- assembly ------------------------------------------------------------

    def _header_fields(self, policy: Policy) -> list[tuple[str, str]]:
        utf8 = policy.utf8
        fields: list[tuple[str, str]] = []
        date = self._date if self._date is not None else self._clock()
        fields.append(("Date", _headers.format_date(date)))
        for name, items in (("From", self._from), ("Sender", self._sender),
                            ("Reply-To", self._reply_to), ("To", self._to), ("Cc", self._cc)):
            if items:
                fields.append((name, _headers.format_address_list(items, utf8=utf8)))
        if self._bcc and self._write_bcc:
            fields.append(("Bcc", _headers.format_address_list(self._bcc, utf8=utf8)))
        if self._subject is not None:
            fields.append(("Subject", self._subject))
        message_id = self._message_id or self._make_id()
        fields.append(("Message-ID", f"<{message_id}>"))
        fields.extend(self._headers)
        return fields

    def _make_id(self) -> str:
        """A Message-ID right side: the first From domain (RFC 5322 section 3.6.4)."""
        domain = "rfcmail.invalid"
        for item in self._from:
            for address in _mailboxes(item):
                if "@" in address:
                    candidate = address.rsplit("@", 1)[1]
                    if candidate.isascii() and _ID_DOMAIN_RE.fullmatch(candidate):
                        domain = candidate
                break
            break
        return f"{self._random_bytes(16).hex()}@{domain}"

    def _body_tree(self) -> MimePart:
        html: MimePart | None = self._html
        inline_parts = [_leaf(item) for item in self._inline]
        attachments = [item if isinstance(item, MimePart) else _leaf(item)
                       for item in self._attachments]
        if html is not None and inline_parts:
            html = MimePart(content_type="multipart/related",
                            params={"type": "text/html"}, parts=(html, *inline_parts))
            inline_parts = []
        attachments = inline_parts + attachments
        body: MimePart | None
        if self._text is not None and html is not None:
            body = MimePart(content_type="multipart/alternative", parts=(self._text, html))
        else:
            body = self._text or html
        if not attachments:
            return body or MimePart(content_type="text/plain", body="")
        parts = attachments if body is None else [body, *attachments]
        return MimePart(content_type="multipart/mixed", parts=tuple(parts))


_ID_DOMAIN_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# RFC 5322 section 3.6.4 id-left "@" id-right, dot-atom-text on both sides
# (no-fold-literal on the right is allowed too); this is what we write.
_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_MESSAGE_ID_RE: Final = re.compile(
    rf"{_ATEXT}(?:\.{_ATEXT})*@(?:{_ATEXT}(?:\.{_ATEXT})*|\[[!-Z^-~]*\])")


def _check_message_id(value: str, *, what: str = "message_id") -> str:
    """Accept an id-left@id-right without angle brackets (RFC 5322 section 3.6.4)."""
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    if not _MESSAGE_ID_RE.fullmatch(value):
        raise ValueError(f"{what} must be id-left@id-right (RFC 5322 section 3.6.4), "
                         f"got {value!r}")
    return value


def _leaf(item: _Attachment) -> MimePart:
    return MimePart(content_type=item.content_type, body=item.body, filename=item.filename,
                    disposition=item.disposition, content_id=item.content_id,
                    description=item.description, charset=item.charset)


def _address_items(value: object, argument: str) -> list[_headers.Address | _headers.Group]:
    """Parse the address arguments into header-helper values."""
    if value is None:
        return []
    values = [value] if isinstance(value, str | _headers.Address | _headers.Group) else value
    if not isinstance(values, Iterable):
        raise TypeError(f"{argument}: expected an address or a list of them, got {value!r}")
    items: list[_headers.Address | _headers.Group] = []
    for entry in values:
        if isinstance(entry, _headers.Address | _headers.Group):
            items.append(entry)
        elif isinstance(entry, str):
            if "\r" in entry or "\n" in entry:
                raise ValueError(f"{argument}: an address contains CR or LF")
            parsed = parse_addresses_strictly(entry, argument)
            items.extend(parsed)
        else:
            raise TypeError(f"{argument}: expected str, Address or Group, got {entry!r}")
    return items


def _mailboxes(item: _headers.Address | _headers.Group) -> list[str]:
    """The addr-specs in an address or group."""
    if isinstance(item, _headers.Group):
        return [address.addr_spec for address in item.members]
    return [item.addr_spec]
