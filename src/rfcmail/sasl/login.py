"""The LOGIN mechanism (draft-murchison-sasl-login-00), client and server.

LOGIN predates SASL PLAIN and is still what many clients use for SMTP AUTH.
The server prompts twice (``Username:`` then ``Password:``); the client
answers with the user name, then the password. The prompts carry no meaning
and clients must not depend on their text (draft section 2.1). Some clients
send the user name as an initial response (``AUTH LOGIN dXNlcg==``); the
server accepts it and prompts only for the password.
"""

from __future__ import annotations

from ._base import (
    Challenge,
    ClientBase,
    Failure,
    SASLError,
    Step,
    check_argument,
    decode_utf8,
)
from .plain import PasswordServer

__all__ = ["LoginClient", "LoginServer"]

USERNAME_PROMPT = b"Username:"
PASSWORD_PROMPT = b"Password:"


class LoginClient(ClientBase):
    """Client side of LOGIN: the user name, then the password, one per challenge.

    Args:
        username: the user name, not empty.
        password: the password, not empty.

    Raises:
        rfcmail.errors.LocalProtocolError: a CR, LF or NUL in an argument, or
            an empty one.
    """

    name = "LOGIN"
    has_initial_response = False

    def __init__(self, *, username: str, password: str) -> None:
        super().__init__()
        check_argument("username", username, required=True)
        check_argument("password", password, required=True)
        self._answers = [username.encode("utf-8"), password.encode("utf-8")]
        self._challenges = 0

    def initial_response(self) -> None:
        """LOGIN has no initial response."""
        return None

    def respond(self, challenge: bytes) -> bytes:
        """Answer the next prompt, whatever its text.

        Raises:
            SASLError: a third challenge.
        """
        self._refuse_if_complete()
        if self._challenges >= len(self._answers):
            raise SASLError("LOGIN: the server sent more than two challenges")
        answer = self._answers[self._challenges]
        self._challenges += 1
        return answer


class LoginServer(PasswordServer):
    """Server side of LOGIN; arguments as :class:`~rfcmail.sasl.plain.PasswordServer`."""

    name = "LOGIN"

    _username: str | None = None

    def _start(self, initial_response: bytes | None) -> Step:
        if initial_response is None:
            return Challenge(data=USERNAME_PROMPT)
        return self._step(initial_response)

    def _step(self, response: bytes) -> Step:
        text = decode_utf8(response)
        if text is None:
            return Failure(reason="malformed LOGIN response: not UTF-8", malformed=True)
        if self._username is None:
            if not text:
                return Failure(reason="malformed LOGIN response: empty user name", malformed=True)
            self._username = text
            return Challenge(data=PASSWORD_PROMPT)
        return self._check(self._username, text)
