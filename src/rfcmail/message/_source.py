"""Byte sources behind parsed messages: memory, a caller's seekable file, a spool.

A parsed part does not copy its body: it keeps byte offsets into the source it
came from and reads them when asked (DESIGN.md, "The message layer"). This
module holds the three kinds of source the parser uses. None of them opens a
file: a file object is either the caller's or comes from the spool factory
given to :class:`~rfcmail.message.Parser` (``tempfile.TemporaryFile`` by
default), which keeps the package free of I/O of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, Protocol

__all__ = ["BytesSource", "FileSource", "Source", "SpoolFactory", "SpoolingStore"]

SpoolFactory = Callable[[], IO[bytes]]
"""A callable returning an empty, readable and writable binary file."""

# How much a file-backed source reads at a time when it streams a range.
READ_CHUNK = 1024 * 1024


class Source(Protocol):
    """Random access to the bytes a message was parsed from."""

    def read(self, start: int, end: int) -> bytes:
        """Return the bytes from offset ``start`` up to ``end``."""

    def iter_range(self, start: int, end: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the bytes from ``start`` up to ``end`` in pieces of at most ``chunk_size``."""


class BytesSource:
    """A source held in memory (the bytes given to :func:`~rfcmail.message.parse`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data

    def read(self, start: int, end: int) -> bytes:
        """Return the bytes from ``start`` up to ``end``."""
        if start == 0 and end >= len(self.data) and type(self.data) is bytes:
            return self.data
        return bytes(self.data[start:end])

    def iter_range(self, start: int, end: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the range in pieces of at most ``chunk_size``."""
        for offset in range(start, end, chunk_size):
            yield bytes(self.data[offset : min(end, offset + chunk_size)])


class FileSource:
    """A source in a seekable binary file; offsets count from ``base``.

    Each read seeks first, so several parts (and several streams opened with
    :meth:`~rfcmail.message.Part.open`) can share the file.
    """

    __slots__ = ("file", "base")

    def __init__(self, file: IO[bytes], base: int = 0) -> None:
        self.file = file
        self.base = base

    def read(self, start: int, end: int) -> bytes:
        """Return the bytes from ``start`` up to ``end``."""
        if end <= start:
            return b""
        self.file.seek(self.base + start)
        return self.file.read(end - start)

    def iter_range(self, start: int, end: int, chunk_size: int = READ_CHUNK) -> Iterator[bytes]:
        """Yield the range in pieces of at most ``chunk_size``, seeking before each."""
        offset = start
        while offset < end:
            piece = self.read(offset, min(end, offset + chunk_size))
            if not piece:
                return
            offset += len(piece)
            yield piece


class SpoolingStore:
    """What the push parser keeps of its input: memory, then a temporary file.

    Bytes are appended in memory until more than ``threshold`` have arrived;
    then everything moves to a file from ``factory`` and later bytes are
    written there, so a large message costs a bounded amount of memory.
    """

    __slots__ = ("threshold", "factory", "memory", "file", "size")

    def __init__(self, threshold: int, factory: SpoolFactory) -> None:
        self.threshold = threshold
        self.factory = factory
        self.memory: bytearray | None = bytearray()
        self.file: IO[bytes] | None = None
        self.size = 0

    def append(self, data: bytes) -> None:
        """Keep ``data`` after what is already stored."""
        self.size += len(data)
        if self.memory is not None:
            self.memory += data
            if len(self.memory) > self.threshold:
                self.file = self.factory()
                self.file.write(self.memory)
                self.memory = None
            return
        assert self.file is not None
        self.file.seek(0, 2)
        self.file.write(data)

    def source(self) -> Source:
        """The stored bytes as a :class:`Source` (the parser calls it once, at the end)."""
        if self.memory is not None:
            return BytesSource(bytes(self.memory))
        assert self.file is not None
        self.file.flush()
        return FileSource(self.file, 0)

    @property
    def spooled(self) -> bool:
        """Whether the bytes moved to a file."""
        return self.file is not None
