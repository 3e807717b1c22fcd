"""HTTP/1.1 as the proxy needs it, and nothing of Docker: message heads parsed by llhttp
(httptools) and kept as received, how a body is framed and where it ends, a connection's unread
bytes. The Docker API's routes and rewriting are proxy.py's."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httptools

CHUNK = 1 << 20  # bytes per read: streams of hundreds of MiB in few Python steps
MAX_HEAD = 1 << 20
HEAD_END = b"\r\n\r\n"
# what httptools is told before a body's raw bytes, so that it finds the body's end
_CHUNKED_REQUEST = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
_CHUNKED_RESPONSE = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def read_request_head(client: socket.socket, timeout: float = 2.0) -> None:
    """Read the client's request head (and what else arrives at once), giving up quietly."""
    received = b""
    client.settimeout(timeout)
    try:
        while HEAD_END not in received and len(received) <= MAX_HEAD:
            data = client.recv(CHUNK)
            if not data:
                return
            received += data
    except OSError:
        return
    finally:
        client.settimeout(None)


def raw_response(status: int, reason: str, message: str, close: bool = True) -> bytes:
    """A complete JSON error answer of ours (the engine never saw the request)."""
    body = json.dumps({"message": message}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(["Connection: close"] if close else [])]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class ClientGone(Exception):
    pass


class Malformed(Exception):
    pass


@dataclass
class Head:
    """A message head as received (forwarded as is unless rewritten) and what llhttp read in it."""

    raw: bytes
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    method: bytes = b""  # requests
    target: bytes = b""
    status: int = 0  # responses
    reason: bytes = b""

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def rewritten(self, drop: tuple[bytes, ...], add: list[tuple[bytes, bytes]]) -> bytes:
        """The same start line, without the headers named in `drop`, with `add`."""
        start = self.raw.split(b"\r\n", 1)[0]
        lines = [start, *(k + b": " + v for k, v in self.headers if k.lower() not in drop),
                 *(k + b": " + v for k, v in add)]
        return b"\r\n".join(lines) + b"\r\n\r\n"


class _HeadParts:
    """httptools' callback object for a head: the target or reason, and the headers."""

    def __init__(self) -> None:
        self.url = b""
        self.status = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_status(self, status: bytes) -> None:
        self.status += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((bytes(name), bytes(value)))


def parse_head(raw: bytes, request: bool) -> Head:
    """One complete head (up to its blank line), parsed by llhttp; HttpParserError if it is
    not HTTP/1.x."""
    parts = _HeadParts()
    parser: Any = (httptools.HttpRequestParser(parts) if request
                   else httptools.HttpResponseParser(parts))
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # (the head is whole: what follows it is the caller's)
    start = raw.split(b"\r\n", 1)[0]
    version = (start.rsplit(b" ", 1)[-1] if request else start.split(b" ", 1)[0])
    if request:
        return Head(raw, parts.headers, keep_alive(version, parts.headers),
                     method=parser.get_method(), target=parts.url)
    return Head(raw, parts.headers, keep_alive(version, parts.headers),
                 status=parser.get_status_code(), reason=parts.status)


def keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the connection may carry another message after this one (RFC 9112 9.3); llhttp
    cannot say once a message without a body has ended within its head."""
    tokens = {token.strip().lower() for name, value in headers if name.lower() == b"connection"
              for token in value.split(b",")}
    if version.upper() == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


class Side:
    """One connection's socket and the bytes read from it that no message has used yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def take(self, size: int | None = None) -> bytes:
        size = len(self.buffer) if size is None else min(size, len(self.buffer))
        taken = bytes(self.buffer[:size])
        del self.buffer[:size]
        return taken


class BodyEnd:
    """httptools' callback object for a body: its end, and its pieces when they are kept."""

    def __init__(self, keep: bool = False) -> None:
        self.done = False
        self.parts: list[bytes] | None = [] if keep else None

    def on_body(self, body: bytes) -> None:
        if self.parts is not None:
            self.parts.append(bytes(body))

    def on_message_complete(self) -> None:
        self.done = True


def chunked_body_parser(end: BodyEnd, request: bool) -> Any:
    """llhttp, told a chunked message's head, so that it finds the end of the body fed next."""
    parser = httptools.HttpRequestParser(end) if request else httptools.HttpResponseParser(end)
    parser.feed_data(_CHUNKED_REQUEST if request else _CHUNKED_RESPONSE)
    return parser


class Framing(Enum):
    """How a message's body ends (RFC 9112 6.3)."""

    CHUNKED = "chunked"  # Transfer-Encoding: chunked: llhttp finds the last chunk
    LENGTH = "length"  # Content-Length: n bytes
    NONE = "none"  # neither: no body (requests) or until the connection closes (responses)


def framing(headers: list[tuple[bytes, bytes]]) -> tuple[Framing, int]:
    """(CHUNKED, 0), (LENGTH, n) or (NONE, 0) from a message's headers."""
    for name, value in headers:
        if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return Framing.CHUNKED, 0
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return Framing.LENGTH, int(value)
            except ValueError:
                raise Malformed(f"Content-Length {value!r}") from None
    return Framing.NONE, 0
