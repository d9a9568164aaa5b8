"""Drive a client and a server POP3 machine against each other in memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rfcmail import pop3
from rfcmail.errors import ProtocolError
from rfcmail.store.memory import MemoryStore


def drain(conn: pop3.Connection) -> list[pop3.Event]:
    """Every event the machine can produce now."""
    events: list[pop3.Event] = []
    while True:
        event = conn.next_event()
        if isinstance(event, pop3.Sentinel):
            return events
        events.append(event)


@dataclass
class Pair:
    """A client Connection talking to a ServerSession over a MemoryStore."""

    store: MemoryStore = field(default_factory=MemoryStore)
    config: pop3.Config = field(default_factory=lambda: pop3.Config(allow_plaintext_auth=True, enable_apop=True))
    users: dict[str, str] = field(default_factory=lambda: {"alice": "secret", "bob": "hunter2"})
    timestamp: str | None = "<1.2@test>"

    def __post_init__(self) -> None:
        self.server = pop3.Connection(pop3.SERVER, self.config)
        self.session = pop3.ServerSession(self.server, self.store, pop3.PasswordMap(self.users),
                                          apop_timestamp=self.timestamp)
        self.client = pop3.Connection(pop3.CLIENT)
        self.actions: list[pop3.Action] = []
        self.server_errors: list[ProtocolError] = []
        self.wire: list[bytes] = []
        self._deliver(self.session.greeting())
        self.greeting = drain(self.client)

    def _deliver(self, actions: Iterable[pop3.Action], to_client: bool = True) -> None:
        for action in actions:
            if isinstance(action, bytes):
                self.wire.append(action)
                if to_client:
                    self.client.receive_data(action)
            else:
                self.actions.append(action)

    def feed_server(self, data: bytes, *, to_client: bool = False) -> None:
        """Give the server raw bytes and let the session answer everything it can.

        The replies go to :attr:`wire`, and to the client machine only with
        ``to_client`` (raw bytes were not sent through it).
        """
        self.server.receive_data(data)
        while True:
            try:
                event = self.server.next_event()
            except ProtocolError as error:
                self.server_errors.append(error)
                self._deliver(self.session.handle_error(error), to_client)
                if self.server.state in (pop3.State.CLOSED, pop3.State.ERROR):
                    return
                continue
            if isinstance(event, pop3.Sentinel):
                return
            self._deliver(self.session.handle(event), to_client)

    def exchange(self, *commands: pop3.Command) -> list[pop3.Event]:
        """Send commands (pipelined in one write) and return the client's events."""
        data = b"".join(self.client.send(command) for command in commands)
        self.feed_server(data, to_client=True)
        return drain(self.client)

    def login(self, user: str = "alice", password: str = "secret") -> None:
        events = self.exchange(pop3.User(name=user), pop3.Pass(password=password))
        assert all(isinstance(event, pop3.Response) and event.ok for event in events), events
