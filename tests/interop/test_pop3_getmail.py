"""getmail6 retrieving from rfcmail's POP3 server over implicit TLS into a Maildir, then deleting."""

from __future__ import annotations

from pathlib import Path

from rfcmail._tls import server_context
from rfcmail.blocking.pop3 import POP3Server
from rfcmail.store import MaildirStore

from .conftest import TLSMaterial
from .framework import ProcessManager, require_program

MESSAGES = [b"From: a@example.test\nSubject: one\n\n.dot line\nfirst body\n",
            b"From: b@example.test\nSubject: two\n\nsecond body\n"]


def test_getmail_pop3s_into_maildir_and_delete(tmp_path: Path, processes: ProcessManager,
                                               interop_dir: Path, tls_material: TLSMaterial) -> None:
    getmail = require_program("getmail")
    store = MaildirStore(tmp_path / "mail")
    for message in MESSAGES:
        store.deliver("alice", message)
    context = server_context(str(tls_material.chain), str(tls_material.key))
    server = POP3Server(store, {"alice": "secret"}, ssl_context=context, implicit_tls=True).start()
    try:
        target = interop_dir / "Maildir"
        for sub in ("tmp", "new", "cur"):
            (target / sub).mkdir(parents=True)
            (target / sub).chmod(0o777)  # getmail refuses to deliver as root: it runs as nobody
        rc = interop_dir / "getmailrc"
        rc.write_text(
            "[retriever]\n"
            "type = SimplePOP3SSLRetriever\n"
            "server = localhost\n"
            f"port = {server.port}\n"
            "username = alice\n"
            "password = secret\n"
            f"ca_certs = {tls_material.ca}\n"
            "[destination]\n"
            "type = Maildir\n"
            f"path = {target}/\n"
            "user = nobody\n"
            "[options]\n"
            "delete = true\n"
            "read_all = true\n"
            "verbose = 2\n"
        )
        state = interop_dir / "getmail-state"
        state.mkdir()
        result = processes.run([getmail, "--getmaildir", str(state), "--rcfile", str(rc)],
                               check=False, timeout=60)
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, output
        fetched = sorted(p.read_bytes() for p in (target / "new").iterdir())
        assert len(fetched) == 2, output
        joined = b"".join(fetched)
        assert b"\n.dot line\n" in joined and b"first body" in joined and b"second body" in joined
        assert store.maildir("alice").keys() == []  # deleted at QUIT
    finally:
        server.stop()
