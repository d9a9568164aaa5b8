"""Property tests: arbitrary input never breaks the parser; generated MIME trees parse back exactly.

- any bytes, whole or in random chunks: no exception under the lenient policy,
  ``bytes(parse(x)) == x``, the same tree whatever the chunking, and every
  accessor returns a value;
- under the strict policy only RemoteProtocolError or LimitExceeded;
- random MIME trees written here (not with the builder, so the parser is not
  tested against itself) parse back to the same structure and payloads.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from rfcmail.errors import LimitExceeded, RemoteProtocolError
from rfcmail.message import STRICT, Parser, Part, parse
from rfcmail.message.headers import parse_content_type

FRAGMENTS = [
    b"\r\n", b"\n", b"\r", b": ", b" ", b"\t", b"--", b"--b", b"--b--", b"--c", b"From: a@b\r\n", b"Subject: =?utf-8?q?x?=\r\n",
    b"Content-Type: multipart/mixed; boundary=b\r\n", b"Content-Type: multipart/alternative; boundary=\"c\"\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: text/plain; charset=utf-8\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename*0*=utf-8''a%C3%A9; filename*1=b\r\n", b"=?", b"?=", b"=\r\n", b"=ZZ",
    b"\x00", b"\xff\xfe", "é".encode(), b"QUJD", b"==", b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n", b"To: x, <y@z>, g: ;\r\n",
]

mail_like = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=8)), max_size=60).map(b"".join)
any_input = st.one_of(st.binary(max_size=600), mail_like)


def shape(message: Part) -> list[tuple[str, tuple[int, int, int], list[str]]]:
    return [(p.content_type, p.offsets, [type(d).__name__ for d in p.defects]) for p in message.walk()]


def touch_everything(message: Part) -> None:
    for part in message.walk():
        for header in part.headers:
            assert isinstance(header.value, str)
        assert isinstance(part.params, dict)
        part.filename
        part.charset
        part.content_disposition
        part.preamble
        part.epilogue
        content = part.get_content()
        assert isinstance(content, (str, bytes))
        with part.open() as stream:
            assert stream.read() == part.get_payload_bytes()
    message.text_body()
    message.html_body()
    message.attachments()


@given(any_input)
def test_any_bytes_round_trip_and_never_raise(data: bytes) -> None:
    message = parse(data)
    assert bytes(message) == data
    touch_everything(message)
    assert (message.subject, message.from_, message.to, message.date, message.message_id) is not None


@given(any_input, st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8))
def test_any_chunking_gives_the_same_tree(data: bytes, sizes: list[int]) -> None:
    parser = Parser()
    position = 0
    index = 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        parser.feed(data[position : position + size])
        position += size
        index += 1
    message = parser.close()
    assert bytes(message) == data
    assert shape(message) == shape(parse(data))


@given(any_input)
def test_a_seekable_file_gives_the_same_tree(data: bytes) -> None:
    file = io.BytesIO(b"prefix" + data)
    file.seek(6)
    message = parse(file)
    assert bytes(message) == data
    assert shape(message) == shape(parse(data))


@given(any_input)
def test_strict_raises_only_documented_errors(data: bytes) -> None:
    try:
        message = parse(data, policy=STRICT)
    except (RemoteProtocolError, LimitExceeded):
        return
    assert bytes(message) == data


# -- generate, then parse ---------------------------------------------------------------------


@dataclass
class Node:
    content_type: str
    payload: bytes = b""
    encoding: str = "7bit"
    children: list[Node] = field(default_factory=list)


TEXT = st.text(alphabet=st.sampled_from("abcdefghij XYZ.,-é\n"), max_size=200).map(lambda t: t.replace("\n", "\r\n"))


def leaves() -> st.SearchStrategy[Node]:
    text = st.builds(lambda t, e: Node("text/plain", t.encode("utf-8"), e), TEXT, st.sampled_from(["base64", "quoted-printable", "8bit"]))
    binary = st.builds(lambda b: Node("application/octet-stream", b, "base64"), st.binary(max_size=300))
    return st.one_of(text, binary)


trees = st.recursive(
    leaves(),
    lambda children: st.builds(
        lambda kind, kids: Node(f"multipart/{kind}", children=kids),
        st.sampled_from(["mixed", "alternative", "related"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


def encode(node: Node, counter: list[int]) -> bytes:
    if node.children:
        counter[0] += 1
        boundary = f"=_b{counter[0]}_boundary".encode()
        head = b"Content-Type: " + node.content_type.encode() + b'; boundary="' + boundary + b'"\r\n\r\n'
        body = b"".join(b"--" + boundary + b"\r\n" + encode(child, counter) + b"\r\n" for child in node.children)
        return head + b"preamble\r\n" + body + b"--" + boundary + b"--\r\nepilogue"
    head = b"Content-Type: " + node.content_type.encode()
    if node.content_type.startswith("text/"):
        head += b"; charset=utf-8"
    head += b"\r\nContent-Transfer-Encoding: " + node.encoding.encode() + b"\r\n\r\n"
    if node.encoding == "base64":
        body = base64.encodebytes(node.payload).replace(b"\n", b"\r\n")
    elif node.encoding == "quoted-printable":
        body = binascii.b2a_qp(node.payload)
    else:
        body = node.payload
    return head + body


def compare(node: Node, part: Part) -> None:
    assert part.content_type == node.content_type
    assert part.defects == []
    if node.children:
        assert part.is_multipart
        assert part.preamble == b"preamble"
        assert part.epilogue == b"epilogue" or part.parent is not None
        assert len(part.parts) == len(node.children)
        for child_node, child in zip(node.children, part.parts):
            compare(child_node, child)
        return
    content = part.get_content()
    if node.content_type.startswith("text/"):
        expected = node.payload.decode("utf-8")
        if node.encoding == "base64":
            assert content == expected
        else:
            # The CRLF before a delimiter belongs to the delimiter.
            assert content == expected.removesuffix("\r\n") or content == expected
    else:
        assert content == node.payload


@settings(max_examples=100)
@given(trees)
def test_generated_trees_parse_back(tree: Node) -> None:
    data = b"From: gen@example.org\r\nMIME-Version: 1.0\r\n" + encode(tree, [0])
    message = parse(data)
    assert bytes(message) == data
    compare(tree, message)


CONTENT_TYPE_PIECES = st.sampled_from(
    ["text", "plain", "/", " ", ";", "multipart", "mixed", "(c)", '"', "boundary=", "x", "=", "\t", "*", "é", "\r\n ",
     ",", "\\", "'", "BOUNDARY", "charset=utf-8"]
)


@given(st.lists(CONTENT_TYPE_PIECES, max_size=12).map("".join))
def test_framing_fast_path_agrees_with_the_parameter_parser(value: str) -> None:
    # The parser reads type and boundary with a fast regex; the public params
    # come from headers.parse_content_type. They must not disagree.
    message = parse(("Content-Type: " + value + "\r\n\r\n").encode())
    media_type, params = parse_content_type(message.headers[0].unfolded())
    assert message.content_type == media_type
    if message.boundary is not None:
        assert message.boundary == params["boundary"].rstrip()
