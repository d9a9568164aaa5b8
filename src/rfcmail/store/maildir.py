"""A Maildir store: delivery, listing, reading, deleting, and a POP3 maildrop view.

The layout is D. J. Bernstein's Maildir (https://cr.yp.to/proto/maildir.html),
as Postfix, Dovecot and the MTA's local delivery use it: ``tmp/``, ``new/``
and ``cur/`` under the mailbox directory. A delivery writes ``tmp/NAME``,
flushes it to disk, then links it to ``new/NAME``, flushes ``new/`` and
removes the tmp file, so a reader never sees a partial message and a
delivery that returned survives a crash: the link is a change to the
directory, which POSIX makes durable only through an ``fsync`` of the
directory itself (file systems without a metadata journal, such as ext2 or
ext4 without one, do not order it before a later flush of another file).
Directories made for a new mailbox are flushed into their parents the same
way. ``NAME`` is
``<seconds>.M<microseconds>P<pid>Q<counter>R<random>.<host>,S=<size>,W=<wire size>``:
unique per host, process and delivery, and carrying the sizes (the Dovecot
``S=`` and ``W=`` fields) so that listing needs no reads. Files in ``cur/``
carry ``:2,<flags>`` after the name; the part before ``:`` is the key.

:class:`MaildirStore` is the POP3 backend (:mod:`rfcmail.pop3.backend`,
RFC 1939 sections 4-7): :meth:`MaildirStore.open_maildrop` takes an exclusive
``fcntl.flock`` on ``<maildir>/rfcmail-pop3.lock`` (released by the kernel if
the process dies; a second session gets ``-ERR [IN-USE]``, RFC 2449 section
8.1.1), sizes count line endings as CRLF, unique ids are derived from the
file's key and so stay the same across sessions, and files are removed only
by :meth:`MaildirMaildrop.commit` (the UPDATE state after QUIT).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

from ..pop3.backend import MessageInfo, POP3Error

__all__ = ["Maildir", "MaildirEntry", "MaildirMaildrop", "MaildirStore", "unique_id_for"]

_READ_CHUNK = 256 * 1024
_counter = itertools.count(1)
_SIZE_RE = re.compile(r",S=([0-9]+)")
_WIRE_RE = re.compile(r",W=([0-9]+)")
_UNIQUE_ID_RE = re.compile(r"[\x21-\x7e]{1,70}")
# The Maildir convention: names start with the delivery time, "<seconds>." and
# often "M<microseconds>" in the next field.
_TIME_RE = re.compile(r"([0-9]{9,11})\.(?:M([0-9]{1,6})(?=[^0-9]))?")
LOCK_NAME = "rfcmail-pop3.lock"


def _wire_size(data: bytes) -> int:
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def _sync_directory(path: Path) -> None:
    """``fsync`` a directory, which makes the names created in it durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    """Unlink ``path`` when it can be; an error here must not hide the one being handled."""
    with contextlib.suppress(OSError):
        path.unlink()


def _make_directory(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (with ``mode``) and any missing parents, each flushed into its parent.

    An existing directory costs one ``stat``. A new one is fsync'ed, and so
    is the directory that now names it, so that mail delivered into it
    later cannot vanish with it in a crash. Parents get the default mode
    (0777 less the umask), as ``mkdir -p`` gives them. When a flush fails,
    the directory this call made is removed again (when still empty) and
    the error raised, so that the next call makes and flushes it anew.
    Not covered: a directory that another process has just made and not
    yet flushed is taken as it is.
    """
    if path.is_dir():
        return
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        made = False
        try:
            directory.mkdir(mode=mode if directory == path else 0o777)
            made = True
        except FileExistsError:
            # Made meanwhile by another delivery, which may not have
            # flushed it yet: flushed here too.
            if not directory.is_dir():
                raise
        try:
            _sync_directory(directory)
            _sync_directory(directory.parent)
        except BaseException:
            if made:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise


@dataclass(frozen=True, slots=True)
class MaildirEntry:
    """A message file of a Maildir.

    Attributes:
        key: the unique name, without the ``:2,flags`` info part.
        path: where the file is now (``new/`` or ``cur/``).
        mtime: the delivery time, from the name or the file's modification
            time, used for ordering.
    """

    key: str
    path: str
    mtime: float


class Maildir:
    """One Maildir mailbox directory.

    Args:
        path: the mailbox directory (holding tmp/, new/, cur/).
        create: make the three subdirectories when missing.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            for sub in ("tmp", "new", "cur"):
                _make_directory(self.path / sub)
        elif not (self.path / "cur").is_dir():
            raise FileNotFoundError(f"{self.path} is not a Maildir (no cur/)")

    def _unique_name(self, size: int, wire: int) -> str:
        now = time.time()
        seconds = int(now)
        micros = int((now - seconds) * 1_000_000)
        host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"
        return (f"{seconds}.M{micros}P{os.getpid()}Q{next(_counter)}R{secrets.token_hex(4)}"
                f".{host},S={size},W={wire}")

    def deliver(self, message: bytes) -> str:
        """Store a message durably and return its key.

        ``tmp/NAME`` is written and fsync'ed, linked to ``new/NAME``, and
        ``new/`` is fsync'ed; only then does it return, so a caller may
        forget the message (a queue removes its entry) once it has. The
        ``tmp/`` name is removed last; one that cannot be removed is a
        harmless leftover and does not fail the delivery.

        When writing, linking or flushing fails, the names made so far are
        removed again, as far as the file system lets it, and the error is
        raised: the message is then normally not delivered, and a retry
        delivers it. Delivery stays at least once, not exactly once: an
        undo that fails, or a reader that took the message in between, can
        leave a copy that the retry duplicates. It never loses one.

        Raises:
            OSError: the message could not be written or made durable.
        """
        name = self._unique_name(len(message), _wire_size(message))
        tmp_path = self.path / "tmp" / name
        new_path = self.path / "new" / name
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(message)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            _remove_quietly(tmp_path)
            raise
        os.close(fd)
        try:
            os.link(tmp_path, new_path)
        except BaseException:
            _remove_quietly(tmp_path)
            raise
        try:
            _sync_directory(new_path.parent)
        except BaseException:
            # Not known to be durable: taken back, so that the retry
            # delivers it once.
            _remove_quietly(new_path)
            _remove_quietly(tmp_path)
            raise
        _remove_quietly(tmp_path)
        return name

    def entries(self) -> list[MaildirEntry]:
        """Every message in new/ and cur/, oldest first.

        The delivery time comes from the name when it starts the Maildir way
        (``<seconds>.`` and optionally ``M<microseconds>``), which spares a
        ``stat`` per message; other names fall back to the file's mtime.
        Ties are broken by key.
        """
        found: list[MaildirEntry] = []
        for sub in ("new", "cur"):
            try:
                scan = os.scandir(self.path / sub)
            except FileNotFoundError:
                continue
            with scan:
                for item in scan:
                    name = item.name
                    if name.startswith(".") or not item.is_file():
                        continue
                    key = name.split(":", 1)[0]
                    stamp = _TIME_RE.match(key)
                    if stamp:
                        when = int(stamp.group(1)) + int(stamp.group(2) or 0) / 1_000_000
                    else:
                        try:
                            when = item.stat().st_mtime
                        except FileNotFoundError:
                            continue  # removed meanwhile by another reader
                    found.append(MaildirEntry(key, item.path, when))
        found.sort(key=lambda entry: (entry.mtime, entry.key))
        return found

    def keys(self) -> list[str]:
        """The keys of every message, oldest first."""
        return [entry.key for entry in self.entries()]

    def _find(self, key: str) -> Path:
        if "/" in key or key.startswith("."):
            raise KeyError(key)
        candidate = self.path / "new" / key
        if candidate.exists():
            return candidate
        try:
            with os.scandir(self.path / "cur") as scan:
                for item in scan:
                    if item.name == key or item.name.startswith(key + ":"):
                        return Path(item.path)
        except FileNotFoundError:
            pass
        raise KeyError(key)

    def read(self, key: str) -> bytes:
        """The message stored under ``key``.

        Raises:
            KeyError: no such message.
        """
        return self._find(key).read_bytes()

    def remove(self, key: str) -> None:
        """Delete the message stored under ``key``.

        Raises:
            KeyError: no such message.
        """
        self._find(key).unlink()

    def __len__(self) -> int:
        return len(self.entries())


def unique_id_for(key: str) -> str:
    """The POP3 unique id of a Maildir key (RFC 1939 section 7: 1-70 chars 0x21-0x7E).

    The key itself when it fits, otherwise the SHA-1 of the key in hex: either
    way it depends on the file name only, so it is the same in every session.
    """
    if _UNIQUE_ID_RE.fullmatch(key):
        return key
    return hashlib.sha1(key.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


class MaildirStore:
    """Users' Maildirs under one root, as a POP3 :class:`~rfcmail.pop3.MaildropStore`.

    Args:
        root: the directory holding every user's mailbox.
        template: where a user's Maildir is below ``root``; ``{user}`` is
            replaced by the user name (``"{user}/Maildir"`` for Dovecot's
            ``~/Maildir`` layout).
        create: create a missing Maildir when a user's maildrop is opened or
            mail is delivered.
    """

    def __init__(self, root: str | os.PathLike[str], *, template: str = "{user}",
                 create: bool = True) -> None:
        if "{user}" not in template:
            raise ValueError("template must contain {user}")
        self.root = Path(root)
        self.template = template
        self.create = create

    def maildir(self, user: str) -> Maildir:
        """The user's :class:`Maildir`.

        Raises:
            POP3Error: the user name cannot name a directory safely
                (``/``, NUL, a leading ``.``: SECURITY.md A5.5).
        """
        if not user or "/" in user or "\0" in user or user.startswith(".") or "\\" in user:
            raise POP3Error("invalid user name", code="AUTH")
        try:
            return Maildir(self.root / self.template.format(user=user), create=self.create)
        except OSError as error:
            raise POP3Error(f"maildrop unavailable ({error.strerror})", code="SYS/TEMP") from None

    def deliver(self, user: str, message: bytes) -> str:
        """Deliver ``message`` to ``user``'s Maildir; return its key."""
        return self.maildir(user).deliver(message)

    def open_maildrop(self, user: str) -> MaildirMaildrop:
        """Lock ``user``'s Maildir for one POP3 session and list its messages.

        Raises:
            POP3Error: ``IN-USE`` when another session holds it, ``SYS/TEMP``
                on an I/O error.
        """
        maildir = self.maildir(user)
        lock_path = maildir.path / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise POP3Error(f"cannot lock maildrop ({error.strerror})", code="SYS/TEMP") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise POP3Error("maildrop already locked by another session", code="IN-USE") from None
            raise POP3Error(f"cannot lock maildrop ({error.strerror})", code="SYS/TEMP") from None
        try:
            return MaildirMaildrop(maildir, fd)
        except OSError as error:
            os.close(fd)
            raise POP3Error(f"cannot read maildrop ({error.strerror})", code="SYS/TEMP") from None


class MaildirMaildrop:
    """A locked, numbered snapshot of a Maildir for one POP3 session."""

    def __init__(self, maildir: Maildir, lock_fd: int) -> None:
        self.maildir = maildir
        self._lock_fd: int | None = lock_fd
        self._entries = maildir.entries()
        self._infos = [MessageInfo(size=self._size_of(entry), unique_id=unique_id_for(entry.key))
                       for entry in self._entries]

    @staticmethod
    def _size_of(entry: MaildirEntry) -> int:
        wire = _WIRE_RE.search(entry.key)
        if wire:
            return int(wire.group(1))
        size = 0
        previous_cr = False
        with open(entry.path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                size += _wire_size(chunk)
                if previous_cr and chunk[:1] == b"\n":
                    size -= 1  # a CRLF split across two reads was counted as CR + CRLF
                previous_cr = chunk[-1:] == b"\r"
        return size

    def messages(self) -> Sequence[MessageInfo]:
        return self._infos

    def read(self, index: int) -> Iterator[bytes]:
        entry = self._entries[index]
        try:
            fd = os.open(entry.path, os.O_RDONLY)
        except FileNotFoundError:
            # Moved from new/ to cur/ by another reader (Dovecot does): look again.
            try:
                fd = os.open(self.maildir._find(entry.key), os.O_RDONLY)
            except (KeyError, OSError):
                raise POP3Error("message no longer exists", code="SYS/PERM") from None
        except OSError as error:
            raise POP3Error(f"cannot read message ({error.strerror})", code="SYS/TEMP") from None
        return self._chunks(fd)

    @staticmethod
    def _chunks(fd: int) -> Iterator[bytes]:
        # Plain os.read calls: a small message is one read (and the empty read at
        # its end), with none of a buffered file object's extra work.
        try:
            while chunk := os.read(fd, _READ_CHUNK):
                yield chunk
        finally:
            os.close(fd)

    def commit(self, deleted: Set[int]) -> None:
        failed = 0
        for index in sorted(deleted):
            entry = self._entries[index]
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                try:
                    self.maildir.remove(entry.key)
                except KeyError:
                    pass  # already gone: the goal is met
                except OSError:
                    failed += 1
            except OSError:
                failed += 1
        if failed:
            raise POP3Error(f"{failed} deleted messages could not be removed", code="SYS/TEMP")

    def close(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __del__(self) -> None:  # pragma: no cover - safety net for a forgotten close()
        if getattr(self, "_lock_fd", None) is not None:
            self.close()
