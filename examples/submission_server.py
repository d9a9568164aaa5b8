"""A message submission server (RFC 6409): AUTH over STARTTLS, users from the command line.

Run it::

    python examples/submission_server.py --port 5870 --tls-cert chain.pem --tls-key key.pem \\
        --user alice:secret --user bob:hunter2 --domain example.test --directory /tmp/outgoing

then submit with any client that does STARTTLS and AUTH, for example::

    swaks --server localhost --port 5870 -tls --tls-ca-path ca.pem -a PLAIN -au alice -ap secret \\
        --from alice@example.test --to friend@example.net

What it enforces, and where:

* TLS before AUTH: no AUTH is advertised or accepted before STARTTLS
  (``Config.require_tls_for_auth``, the default; RFC 4954 section 4);
  PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1 and SCRAM-SHA-256 are offered after it.
* AUTH before MAIL: ``530 5.7.0`` until the client authenticated
  (``Config(require_auth=True)``, RFC 6409 section 4.3).
* With ``--domain``, an authenticated user may only send as
  ``<user>@<domain>`` (``553 5.7.1`` otherwise), a decision the session makes
  from :class:`~rfcmail.smtp.SessionContext.authenticated_as`.

Accepted messages go to ``DIRECTORY/new/`` exactly as the SMTP sink example
writes them (this script reuses its backend); a real submission server would
queue them for relaying instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
from pathlib import Path

from smtp_sink import DirectoryBackend, DirectorySession  # the sibling example

from rfcmail.aio.smtp import ServerSettings, SMTPServer
from rfcmail.sasl import InMemoryCredentialStore
from rfcmail.smtp import Config, Mail, PeerInfo, SessionContext, SMTPReplyError


class SubmissionSession(DirectorySession):
    """A directory session that lets users send only from their own address."""

    def __init__(self, directory: Path, counter: list[int], domain: str | None) -> None:
        super().__init__(directory, counter)
        self.domain = domain

    def mail(self, mail: Mail, context: SessionContext) -> None:
        user = context.authenticated_as
        if user is None:  # Config(require_auth=True) already refuses this; kept as a second lock
            raise SMTPReplyError(530, "5.7.0", "Authentication required")
        if self.domain is not None and mail.reverse_path.lower() != f"{user}@{self.domain}".lower():
            raise SMTPReplyError(553, "5.7.1", f"Sender address not owned by user {user}")
        super().mail(mail, context)


class SubmissionBackend(DirectoryBackend):
    def __init__(self, directory: Path, credentials: InMemoryCredentialStore, domain: str | None) -> None:
        super().__init__(directory)
        self.credentials = credentials
        self.domain = domain

    def session(self, peer: PeerInfo) -> DirectorySession:
        return SubmissionSession(self.directory, self.counter, self.domain)

    def sasl_credentials(self) -> InMemoryCredentialStore:
        """The users AUTH checks (this makes the backend an ``AuthBackend``)."""
        return self.credentials


def parse_users(values: list[str]) -> InMemoryCredentialStore:
    users: dict[str, str] = {}
    for value in values:
        name, separator, password = value.partition(":")
        if not separator or not name or not password:
            raise SystemExit(f"--user takes NAME:PASSWORD, not {value!r}")
        users[name] = password
    return InMemoryCredentialStore(users)


async def serve(args: argparse.Namespace) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    backend = SubmissionBackend(Path(args.directory), parse_users(args.user), args.domain)
    server = SMTPServer(
        backend,
        config=Config(hostname=args.hostname, require_auth=True),
        settings=ServerSettings(tls_context=context, implicit_tls=args.implicit_tls),
    )
    await server.listen(args.host, args.port)
    mode = "implicit TLS" if args.implicit_tls else "STARTTLS"
    print(f"submission server on {args.host}:{server.port} ({mode}), {len(args.user)} user(s)", flush=True)
    await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5870)
    parser.add_argument("--hostname", default="submission.localhost")
    parser.add_argument("--tls-cert", required=True, help="certificate chain (PEM)")
    parser.add_argument("--tls-key", required=True, help="private key (PEM)")
    parser.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (port 465 style)")
    parser.add_argument("--user", action="append", required=True, metavar="NAME:PASSWORD")
    parser.add_argument("--domain", help="users may only send as NAME@DOMAIN")
    parser.add_argument("--directory", default="./outgoing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
