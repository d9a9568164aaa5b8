"""The transition tables: every (state, command) pair, both roles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rfcmail import pop3
from rfcmail.errors import LocalProtocolError, RemoteProtocolError
from rfcmail.pop3 import COMMAND_TRANSITIONS, RESPONSE_TRANSITIONS, Outcome, State
from rfcmail.pop3._writers import write_command

SAMPLES: list[pop3.Command] = [
    pop3.User(name="alice"), pop3.Pass(password="secret"), pop3.Apop(name="alice", digest="0" * 32),
    pop3.Auth(mechanism="PLAIN"), pop3.Stls(), pop3.Capa(), pop3.Stat(), pop3.List(),
    pop3.Retr(message_number=1), pop3.Dele(message_number=1), pop3.Noop(), pop3.Rset(),
    pop3.Top(message_number=1, lines=1), pop3.Uidl(), pop3.Quit(),
]
COMMAND_STATES = [State.AUTHORIZATION, State.USER_ACCEPTED, State.TRANSACTION]


def test_every_in_flight_state_has_outcomes() -> None:
    for (state, command), flight in COMMAND_TRANSITIONS.items():
        outcomes = {o for (s, c, o) in RESPONSE_TRANSITIONS if s is flight and c is command}
        assert Outcome.ERR in outcomes, (state, command)


@given(state=st.sampled_from(COMMAND_STATES), command=st.sampled_from(SAMPLES))
def test_client_send_follows_the_table(state: State, command: pop3.Command) -> None:
    client = pop3.Connection(pop3.CLIENT)
    client.state = state
    if (state, type(command)) in COMMAND_TRANSITIONS:
        assert client.send(command) == write_command(command)
    else:
        with pytest.raises(LocalProtocolError):
            client.send(command)


@given(state=st.sampled_from(COMMAND_STATES), command=st.sampled_from(SAMPLES))
def test_server_receive_follows_the_table(state: State, command: pop3.Command) -> None:
    config = pop3.Config(allow_plaintext_auth=True, enable_apop=True, stls=True, sasl_mechanisms=("PLAIN",))
    server = pop3.Connection(pop3.SERVER, config)
    server.send(pop3.Greeting(timestamp="<a@b>"))
    server.state = state
    server.receive_data(write_command(command))
    if (state, type(command)) in COMMAND_TRANSITIONS:
        assert server.next_event() == command
        assert server.state is COMMAND_TRANSITIONS[(state, type(command))]
    else:
        with pytest.raises(RemoteProtocolError) as caught:
            server.next_event()
        assert caught.value.reply_hint == "-ERR command not valid in this state"
        assert server.their_state is state  # recoverable: answered with -ERR


@given(command=st.sampled_from(SAMPLES), ok=st.booleans())
def test_server_response_transitions(command: pop3.Command, ok: bool) -> None:
    config = pop3.Config(allow_plaintext_auth=True, enable_apop=True, stls=True, sasl_mechanisms=("PLAIN",))
    for state in COMMAND_STATES:
        if (state, type(command)) not in COMMAND_TRANSITIONS:
            continue
        server = pop3.Connection(pop3.SERVER, config)
        server.send(pop3.Greeting(timestamp="<a@b>"))
        server.state = state
        server.receive_data(write_command(command))
        server.next_event()
        flight = server.state
        server.send(pop3.Response(ok=ok))
        if ok and command.multiline or (ok and isinstance(command, (pop3.List, pop3.Uidl))):
            server.send(pop3.EndOfMultiline())
        expected = RESPONSE_TRANSITIONS[(flight, type(command), Outcome.OK if ok else Outcome.ERR)]
        if not ok and isinstance(command, (pop3.Pass, pop3.Apop, pop3.Auth)) and expected is not State.CLOSED:
            assert server.auth_failures == 1
        assert server.state is expected


@pytest.mark.parametrize("changes", [
    {"hostname": "bad host"}, {"implementation": "a b"}, {"sasl_mechanisms": ("plain",)},
    {"expire": "soon"}, {"login_delay": -1}, {"auth_failure_delay": -0.5},
])
def test_config_rejects_bad_values(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        pop3.Config().clone(**changes)


def test_config_clone_keeps_other_fields() -> None:
    config = pop3.Config(stls=True).clone(expire="30")
    assert config.stls and config.expire == "30"
