"""The Maildir store and its POP3 maildrop view."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail import pop3
from rfcmail.store import Maildir, MaildirStore, MemoryStore, unique_id_for, wire_size


def test_deliver_goes_through_tmp_into_new(tmp_path: Path) -> None:
    box = Maildir(tmp_path / "box")
    key = box.deliver(b"Subject: x\n\nbody\n")
    assert (tmp_path / "box" / "new" / key).read_bytes() == b"Subject: x\n\nbody\n"
    assert list((tmp_path / "box" / "tmp").iterdir()) == []
    assert ",S=17,W=20" in key
    assert box.keys() == [key] and len(box) == 1
    assert box.read(key) == b"Subject: x\n\nbody\n"
    box.remove(key)
    assert len(box) == 0
    with pytest.raises(KeyError):
        box.read(key)


def test_unique_names() -> None:
    names = {unique_id_for(f"k{n}") for n in range(3)}
    assert len(names) == 3
    assert unique_id_for("a" * 71) == unique_id_for("a" * 71) and len(unique_id_for("a" * 71)) == 40


def test_keys_are_unique_across_many_deliveries(tmp_path: Path) -> None:
    box = Maildir(tmp_path)
    keys = {box.deliver(b"m") for _ in range(200)}
    assert len(keys) == 200


def test_cur_messages_with_flags_are_listed_and_found(tmp_path: Path) -> None:
    box = Maildir(tmp_path)
    (tmp_path / "cur" / "123.abc.host:2,S").write_bytes(b"a\nb\n")
    assert box.keys() == ["123.abc.host"]
    assert box.read("123.abc.host") == b"a\nb\n"
    with pytest.raises(KeyError):
        box.read("../escape")


def test_not_a_maildir(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Maildir(tmp_path / "missing", create=False)


def test_maildrop_sizes_uidl_and_lock(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path, template="{user}/Maildir")
    store.deliver("alice", b"a\nb\n")
    # A message delivered by another program, without the W= field, CRLF split at a read boundary.
    (tmp_path / "alice" / "Maildir" / "cur" / "1.foreign.host:2,").write_bytes(b"x" * (256 * 1024 - 1) + b"\r\n.\n")
    drop = store.open_maildrop("alice")
    sizes = sorted(info.size for info in drop.messages())
    assert sizes == [6, 256 * 1024 - 1 + 2 + 3]
    with pytest.raises(pop3.POP3Error) as caught:
        store.open_maildrop("alice")
    assert caught.value.code == "IN-USE"
    uids = [info.unique_id for info in drop.messages()]
    drop.close()
    again = store.open_maildrop("alice")
    assert [info.unique_id for info in again.messages()] == uids  # stable across sessions
    again.close()


def test_commit_removes_only_marked_and_close_releases(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path)
    for n in range(3):
        store.deliver("bob", b"m%d\n" % n)
    drop = store.open_maildrop("bob")
    contents = [b"".join(drop.read(i)) for i in range(3)]
    assert sorted(contents) == [b"m0\n", b"m1\n", b"m2\n"]
    drop.commit({contents.index(b"m1\n")})
    drop.close()
    drop.close()
    drop = store.open_maildrop("bob")
    assert sorted(b"".join(drop.read(i)) for i in range(len(drop.messages()))) == [b"m0\n", b"m2\n"]
    drop.close()


def test_read_follows_a_message_moved_to_cur(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path)
    key = store.deliver("carol", b"moved\n")
    drop = store.open_maildrop("carol")
    os.rename(tmp_path / "carol" / "new" / key, tmp_path / "carol" / "cur" / (key + ":2,S"))
    assert b"".join(drop.read(0)) == b"moved\n"
    drop.commit({0})
    drop.close()
    assert len(store.maildir("carol")) == 0


def test_vanished_message_is_sys_perm(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path)
    key = store.deliver("dave", b"x\n")
    drop = store.open_maildrop("dave")
    (tmp_path / "dave" / "new" / key).unlink()
    with pytest.raises(pop3.POP3Error) as caught:
        drop.read(0)
    assert caught.value.code == "SYS/PERM"
    drop.commit({0})  # already gone: not an error
    drop.close()


@pytest.mark.parametrize("user", ["../etc", "a/b", ".hidden", "", "x\0y", "a\\b"])
def test_user_names_cannot_escape_the_root(tmp_path: Path, user: str) -> None:
    with pytest.raises(pop3.POP3Error):
        MaildirStore(tmp_path).open_maildrop(user)


def test_template_needs_user(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        MaildirStore(tmp_path, template="fixed")


def test_unreadable_root_is_sys_temp(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(pop3.POP3Error) as caught:
        MaildirStore(tmp_path / "file").open_maildrop("alice")
    assert caught.value.code == "SYS/TEMP"


@settings(max_examples=30)
@given(st.binary(max_size=2000))
def test_wire_size_matches_what_the_server_sends(data: bytes) -> None:
    from rfcmail.pop3._writers import BodyWriter
    writer = BodyWriter()
    body = writer.write(data)
    unstuffed = body.replace(b"\r\n..", b"\r\n.")
    if unstuffed.startswith(b".."):
        unstuffed = unstuffed[1:]
    if not data.endswith(b"\r"):
        assert wire_size(data) == len(unstuffed)


def test_memory_store_lock_and_sizes() -> None:
    store = MemoryStore()
    store.deliver("a", b"x\ny\r\n")
    drop = store.open_maildrop("a")
    assert drop.messages()[0].size == 6
    with pytest.raises(pop3.POP3Error):
        store.open_maildrop("a")
    drop.commit({0})
    drop.close()
    assert store.messages("a") == []
    store.open_maildrop("a").close()


def test_deletions_survive_only_after_quit_through_a_server_session(tmp_path: Path) -> None:
    """A crash before QUIT (the session simply vanishes) deletes nothing; QUIT's UPDATE does."""
    from tests.pop3.helpers import Pair, drain
    store = MaildirStore(tmp_path)
    store.deliver("alice", b"one\n")
    store.deliver("alice", b"two\n")
    pair = Pair(store=store)  # type: ignore[arg-type]
    pair.login()
    pair.exchange(pop3.Dele(message_number=1))
    assert len(store.maildir("alice")) == 2
    pair.session.connection_lost()  # the process dies or the socket drops
    assert len(store.maildir("alice")) == 2
    pair = Pair(store=store)  # type: ignore[arg-type]
    pair.login()
    pair.exchange(pop3.Dele(message_number=1), pop3.Quit())
    assert len(store.maildir("alice")) == 1
    assert drain(pair.client) == []


def test_entries_are_in_delivery_order_without_stat(tmp_path: Path) -> None:
    box = Maildir(tmp_path)
    keys = [box.deliver(b"m%d\n" % n) for n in range(20)]
    (tmp_path / "cur" / "900000000.older.host:2,S").write_bytes(b"old\n")
    foreign = tmp_path / "new" / "no-timestamp-here"
    foreign.write_bytes(b"x\n")
    os.utime(foreign, (2_000_000_000, 2_000_000_000))
    assert box.keys() == ["900000000.older.host", *keys, "no-timestamp-here"]


class _SyncRecorder:
    """Records, in order, the links made and the inodes fsync'ed (by (device, inode))."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_directory_sync: bool = False) -> None:
        self.events: list[tuple[str, object]] = []
        self.fail_directory_sync = fail_directory_sync
        real_fsync, real_link = os.fsync, os.link

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            is_directory = (info.st_mode & 0o170000) == 0o040000
            self.events.append(("fsync", (info.st_dev, info.st_ino)))
            if is_directory and self.fail_directory_sync:
                raise OSError(5, "Input/output error")
            real_fsync(fd)

        def link(source: object, destination: object, *args: object, **kwargs: object) -> None:
            self.events.append(("link", Path(str(destination)).name))
            real_link(source, destination, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "link", link)

    @staticmethod
    def inode(path: Path) -> tuple[int, int]:
        info = path.stat()
        return (info.st_dev, info.st_ino)


def test_a_delivery_flushes_new_after_the_link_before_it_returns(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # SECURITY R1/R2: a queue forgets a message once deliver() returns, so the
    # link into new/ must be durable by then: on a file system without a
    # metadata journal only an fsync of new/ itself makes it so.
    box = Maildir(tmp_path / "box")
    recorder = _SyncRecorder(monkeypatch)
    key = box.deliver(b"Subject: x\r\n\r\nbody\r\n")
    message = recorder.inode(tmp_path / "box" / "new" / key)
    new = recorder.inode(tmp_path / "box" / "new")
    assert recorder.events == [("fsync", message), ("link", key), ("fsync", new)]
    assert list((tmp_path / "box" / "tmp").iterdir()) == []


def test_a_failed_flush_of_new_undoes_the_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = Maildir(tmp_path / "box")
    _SyncRecorder(monkeypatch, fail_directory_sync=True)
    with pytest.raises(OSError):
        box.deliver(b"Subject: x\r\n\r\nbody\r\n")
    # Not delivered: neither name is left, so that the retry delivers it once.
    assert list((tmp_path / "box" / "new").iterdir()) == []
    assert list((tmp_path / "box" / "tmp").iterdir()) == []


def test_a_new_mailbox_is_flushed_into_its_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _SyncRecorder(monkeypatch)
    store = MaildirStore(tmp_path / "root", template="{user}/Maildir")
    store.maildir("alice")
    synced = {inode for kind, inode in recorder.events if kind == "fsync"}
    # Every directory made, and every directory that names one of them.
    for path in (tmp_path, tmp_path / "root", tmp_path / "root" / "alice",
                 tmp_path / "root" / "alice" / "Maildir", *(tmp_path / "root" / "alice" / "Maildir" / sub
                                                           for sub in ("tmp", "new", "cur"))):
        assert recorder.inode(path) in synced, path
    # An existing mailbox costs no flush at all.
    recorder.events.clear()
    store.maildir("alice")
    assert recorder.events == []


def test_a_path_through_a_file_is_not_a_mailbox(tmp_path: Path) -> None:
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(OSError):
        Maildir(tmp_path / "plain" / "box")
    with pytest.raises(OSError):
        Maildir(tmp_path / "plain")
    with pytest.raises(pop3.POP3Error) as caught:
        MaildirStore(tmp_path, template="plain/{user}").maildir("bob")
    assert caught.value.code == "SYS/TEMP"


def test_a_tmp_name_that_cannot_be_removed_does_not_fail_a_durable_delivery(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Failing here would make the queue retry a message already durable in new/.
    box = Maildir(tmp_path / "box")
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self.parent.name == "tmp":
            raise PermissionError(13, "Permission denied")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    key = box.deliver(b"Subject: x\r\n\r\nbody\r\n")
    assert (tmp_path / "box" / "new" / key).read_bytes() == b"Subject: x\r\n\r\nbody\r\n"
    assert [p.name for p in (tmp_path / "box" / "tmp").iterdir()] == [key]  # the harmless leftover


def test_a_failed_link_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    box = Maildir(tmp_path / "box")

    def link(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", link)
    with pytest.raises(OSError):
        box.deliver(b"Subject: x\r\n\r\nbody\r\n")
    assert list((tmp_path / "box" / "new").iterdir()) == []
    assert list((tmp_path / "box" / "tmp").iterdir()) == []


def test_a_mailbox_whose_flush_failed_is_made_and_flushed_again(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _SyncRecorder(monkeypatch, fail_directory_sync=True)
    with pytest.raises(OSError):
        Maildir(tmp_path / "box")
    # What this call made is gone again, so that the next call does not
    # take an unflushed directory for a durable one.
    assert not (tmp_path / "box").exists()
    recorder.fail_directory_sync = False
    recorder.events.clear()
    Maildir(tmp_path / "box")
    synced = {inode for kind, inode in recorder.events if kind == "fsync"}
    assert recorder.inode(tmp_path / "box") in synced and recorder.inode(tmp_path) in synced


def test_mailbox_directories_are_private_and_their_parents_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        Maildir(tmp_path / "root" / "alice")
    finally:
        os.umask(old)
    for sub in ("tmp", "new", "cur"):
        assert (tmp_path / "root" / "alice" / sub).stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "root" / "alice").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "root").stat().st_mode & 0o777 == 0o755
