"""The shared Dovecot + Postfix fixture works: Postfix delivers into Dovecot, IMAP and POP3 see it."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import time

from .realworld import RealWorld


def test_postfix_delivers_to_dovecot_and_imap_sees_it(realworld: RealWorld) -> None:
    marker = f"rw-{time.monotonic_ns()}"
    with smtplib.SMTP("127.0.0.1", realworld.ports["SMTP_PORT"], timeout=10) as smtp:
        smtp.sendmail("bob@example.test", ["dave@example.test"],
                      f"Subject: {marker}\r\n\r\nhello\r\n".encode())
    context = ssl.create_default_context(cafile=str(realworld.ca))
    deadline = time.monotonic() + 15
    found = False
    while time.monotonic() < deadline and not found:
        with imaplib.IMAP4_SSL("localhost", realworld.ports["IMAPS_PORT"], ssl_context=context) as imap:
            imap.login("dave", "secret")
            imap.select("INBOX", readonly=True)
            status, data = imap.search(None, "SUBJECT", marker)
            assert status == "OK"
            found = bool(data[0].split())
        if not found:
            time.sleep(0.2)
    assert found, realworld.logs()


def test_dovecot_pop3_answers(realworld: RealWorld) -> None:
    pop = poplib.POP3("127.0.0.1", realworld.ports["POP3_PORT"], timeout=10)
    try:
        pop.user("carol")
        pop.pass_("secret")
        count, _size = pop.stat()
        assert count >= 0
    finally:
        pop.quit()
