"""The proxy's HTTP/1.1 plumbing without an engine: heads, framing, where a chunked body ends
(however the bytes arrive), keep-alive and rewriting."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_seccomp.interception.http import (
    BodyEnd,
    Framing,
    Malformed,
    chunked_body_parser,
    framing,
    parse_head,
)

CREATE = (b"POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: docker\r\n"
          b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n")


def test_a_request_head_keeps_its_bytes_and_says_what_llhttp_read():
    head = parse_head(CREATE, request=True)
    assert head.raw == CREATE
    assert (head.method, head.target) == (b"POST", b"/v1.41/containers/create?name=web")
    assert head.header(b"content-length") == b"2" and head.keep_alive
    assert framing(head.headers) == (Framing.LENGTH, 2)


def test_a_response_head_and_the_connection_s_fate():
    head = parse_head(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
                      request=False)
    assert (head.status, head.reason) == (101, b"UPGRADED")
    assert not parse_head(b"HTTP/1.0 200 OK\r\n\r\n", request=False).keep_alive
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", False).keep_alive
    assert not parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", False).keep_alive


def test_rewriting_a_head_keeps_its_start_line_and_the_other_headers_in_order():
    head = parse_head(CREATE, request=True)
    rewritten = head.rewritten(drop=(b"content-length",), add=[(b"Content-Length", b"40")])
    assert rewritten == (b"POST /v1.41/containers/create?name=web HTTP/1.1\r\nHost: docker\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 40\r\n\r\n")


@pytest.mark.parametrize(("headers", "expected"), [
    ([(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"5")], (Framing.CHUNKED, 0)),
    ([(b"content-length", b"0")], (Framing.LENGTH, 0)),
    ([(b"Content-Type", b"application/json")], (Framing.NONE, 0)),
])
def test_framing_prefers_chunked_as_the_rfc_says(headers, expected):
    assert framing(headers) == expected


def test_a_content_length_that_is_no_number_is_malformed():
    with pytest.raises(Malformed):
        framing([(b"Content-Length", b"twelve")])


@given(pieces=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
       request=st.booleans())
def test_a_chunked_body_s_end_is_found_however_its_bytes_arrive(pieces, cuts, request):
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    bounds = sorted({c % len(body) for c in cuts} | {0, len(body)})
    end = BodyEnd(keep=True)
    parser = chunked_body_parser(end, request)
    for start, stop in itertools.pairwise(bounds):
        assert not end.done
        parser.feed_data(body[start:stop])
    assert end.done and b"".join(end.parts or ()) == b"".join(pieces)
