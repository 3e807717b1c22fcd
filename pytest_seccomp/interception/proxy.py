"""The session's one interception point: a Docker Engine API proxy on a private unix socket.

Published as `DOCKER_HOST` for the whole session, so every client in the pytest process and in
its subprocesses (the docker SDK, the docker CLI, compose v1 and v2, python-on-whales,
pytest-docker, testcontainers) reaches the engine through it. It rewrites one request,
`POST /containers/create` (labels, security options: the observer decides), and notes three
answers (a container created, started, an exec created); everything else passes through
unchanged: streamed bodies as they arrive, and hijacked connections (attach, exec start,
BuildKit's session) as raw bytes both ways once the engine has switched protocols.

HTTP/1.1 heads are parsed by llhttp (httptools, C) and forwarded as received unless rewritten;
bodies pass as raw bytes, their end found by their length or by llhttp. One thread per client
connection (a stream such as `logs -f` may last the whole session, and a thread blocked on it
costs nothing); every thread and socket is closed when its client goes away or when the proxy
stops.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httptools

from ..errors import SeccompError
from .http import (
    CHUNK,
    HEAD_END,
    MAX_HEAD,
    BodyEnd,
    ClientGone,
    Framing,
    Head,
    Malformed,
    Side,
    chunked_body_parser,
    framing,
    parse_head,
    raw_response,
    read_request_head,
)

_API = r"^(?:/v[0-9.]+)?"
_CREATE = re.compile(_API + r"/containers/create$")
_START = re.compile(_API + r"/containers/([^/]+)/start$")
_EXEC = re.compile(_API + r"/containers/([^/]+)/exec$")
_BUILD = re.compile(_API + r"/build$")
_HIJACKED_TYPES = ("application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream")


class EngineError(Exception):
    """An error answer of the engine (status and its message), for the observer to explain."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class StartError(EngineError):
    """The engine failed to start a container: its message may name a later step (a namespace
    bind-mount, say) when the runtime's init died of a refused syscall before it."""


class ProxyObserver(Protocol):
    """The session: decides what a container gets and notes what the engine did."""

    def before_create(self, api: Any, config: dict[str, Any], name: str | None) -> None: ...

    def after_create(self, api: Any, container_id: str, config: dict[str, Any],
                     name: str | None) -> None: ...

    def after_start(self, container_id: str) -> None: ...

    def after_exec_create(self, container_id: str, cmd: Any) -> None: ...

    def explain_failure(self, container: str | None, exc: Exception) -> Exception | None: ...

    def building(self, active: bool) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    """Where the engine listens: a unix socket path, or a plain TCP host and port."""

    url: str

    def connect(self) -> socket.socket:
        parts = urlsplit(self.url)
        if parts.scheme in ("unix", "npipe") or not parts.scheme:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(parts.path or self.url)
            except BaseException:
                sock.close()
                raise
            return sock
        return socket.create_connection((parts.hostname or "localhost", parts.port or 2375))


class EngineProxy:
    """A Docker API proxy on a private unix socket (0700 directory, 0600 socket)."""

    def __init__(self, upstream: str, observer: ProxyObserver) -> None:
        self.upstream = Endpoint(upstream)
        self._observer = observer
        self._directory: str | None = None
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()  # serving a connection now
        self._started: list[threading.Thread] = []  # every connection thread not known ended
        self._stopping = False
        self._api: Any = None

    @property
    def url(self) -> str:
        assert self._directory is not None
        return f"unix://{self._directory}/docker.sock"

    def start(self) -> str:
        """Listen and accept on a thread of its own; returns the DOCKER_HOST to publish."""
        self._directory = tempfile.mkdtemp(prefix="pytest-seccomp-")  # mode 0700
        path = os.path.join(self._directory, "docker.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is made 0600
        try:
            listener.bind(path)
        finally:
            os.umask(old_umask)
        listener.listen(128)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, name="pytest-seccomp-proxy",
                                          daemon=True)
        self._acceptor.start()
        return self.url

    def stop(self) -> None:
        """Close the listener and every connection; join every thread."""
        with self._lock:
            self._stopping = True
            listener, self._listener = self._listener, None
            sockets = list(self._open)
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None
        with self._lock:
            started = list(self._started)
        for thread in started:  # also those past their last socket, still finishing
            thread.join(timeout=5)
        if self._api is not None:
            self._api.close()
            self._api = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    @property
    def api(self) -> Any:
        """A docker SDK client of the engine itself, for the observer's questions (an image's
        tags or health check); made on first use, so a gone engine fails no start-up."""
        from .engine import engine_client

        with self._lock:
            if self._api is None:  # (a version given: no GET /version, which runs runc)
                self._api = engine_client(self.upstream.url, 30, low_level=True)
            return self._api

    @property
    def connections(self) -> int:
        """Client connections being served now (benchmarks and tests watch it)."""
        with self._lock:
            return len(self._threads)

    # -- connections -------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            listener = self._listener
            if listener is None:
                return
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            thread = threading.Thread(target=self._serve, args=(client,),
                                      name="pytest-seccomp-proxy-conn", daemon=True)
            with self._lock:
                if self._stopping:
                    client.close()
                    return
                self._open.add(client)
                self._threads.add(thread)
                self._started = [t for t in self._started if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            try:
                upstream = self.upstream.connect()
            except OSError as exc:
                self._engine_down(client, exc)
                return
            with self._lock:
                if self._stopping:
                    return
                self._open.add(upstream)
            exchange = _Exchange(self, client, upstream)
            try:
                exchange.run()
            finally:
                exchange.close()
        except Exception:  # a broken peer ends its own connection, never the proxy
            pass
        finally:
            with self._lock:
                for sock in (client, upstream):
                    if sock is not None:
                        self._open.discard(sock)
                self._threads.discard(threading.current_thread())
            for sock in (client, upstream):
                if sock is not None:
                    sock.close()

    def _engine_down(self, client: socket.socket, exc: OSError) -> None:
        """The engine does not answer: a 502 that names it, and the session is told."""
        self._observer.explain_failure(None, ConnectionError(
            f"cannot connect to the container engine at {self.upstream.url}: {exc}"))
        message = (f"pytest-seccomp: the container engine at {self.upstream.url} does not answer "
                   f"({exc.strerror or exc}); start it (dockerd or `podman system service`)")
        read_request_head(client)  # unread input would make close() reset the answer away
        client.sendall(raw_response(502, "Bad Gateway", message))


class _Exchange:
    """One client connection and its engine connection: requests one after another
    (keep-alive), each either passed through, rewritten (create) or hijacked. Heads are parsed
    by llhttp (httptools) and forwarded as received unless rewritten; bodies pass as raw bytes,
    their end found by their length or by llhttp."""

    def __init__(self, proxy: EngineProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.observer = proxy._observer
        self.client = client
        self.upstream = upstream
        self.from_client = Side(client)
        self.from_engine = Side(upstream)
        self._selector: selectors.BaseSelector | None = None  # made at the first wait
        self._closing = False  # a chunked body's end was found by llhttp: close after the answer

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()

    def run(self) -> None:
        while True:
            try:
                request = self._read_head(self.from_client, request=True)
            except (httptools.HttpParserError, Malformed) as exc:
                self.client.sendall(raw_response(400, "Bad Request",
                                                  f"pytest-seccomp: malformed request: {exc}"))
                return
            if request is None:
                return  # the client closed the connection
            if not self._handle(request) or self._closing or not request.keep_alive:
                return

    # -- reading -------------------------------------------------------------------------------
    def _read_head(self, side: Side, request: bool) -> Head | None:
        """The next head from this side (None if it closed first)."""
        while True:
            if request:
                while side.buffer[:2] == b"\r\n":  # empty lines between requests are allowed
                    del side.buffer[:2]
            end = side.buffer.find(HEAD_END)
            if end >= 0:
                return parse_head(side.take(end + len(HEAD_END)), request)
            if len(side.buffer) > MAX_HEAD:
                raise Malformed(f"a head longer than {MAX_HEAD} bytes")
            data = self._receive(side)
            if not data:
                return None
            side.buffer += data

    def _receive(self, side: Side) -> bytes:
        """The next bytes from a side (b"" when it closed); from the engine, watching for the
        client hanging up only while the engine is quiet (no extra syscall while a stream
        flows)."""
        if side is self.from_client:
            return self.client.recv(CHUNK)
        try:
            return self.upstream.recv(CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            self._wait_for_engine()
            return self.upstream.recv(CHUNK)

    def _more(self, side: Side) -> bytes:
        """The next bytes of a message that is not over: a side that closed now ends it."""
        data = self._receive(side)
        if not data:
            raise ClientGone
        return data

    def _wait_for_engine(self) -> None:
        """Block until the engine sends; a client that hangs up meanwhile ends the exchange
        (a quiet `logs -f` would otherwise hold its thread until the next line)."""
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self.upstream, selectors.EVENT_READ)
            self._selector.register(self.client, selectors.EVENT_READ)
        while True:
            ready = {key.fileobj for key, _ in self._selector.select()}
            if self.upstream in ready:
                return
            if self.client in ready:
                data = self.client.recv(CHUNK)
                if not data:
                    raise ClientGone
                self.from_client.buffer += data  # pipelined: kept for its turn
                self._selector.unregister(self.client)  # from now on, only the engine

    def _whole_body(self, side: Side, head: Head, request: bool) -> bytes:
        """A (small) message body, whole: a container's configuration, an API answer."""
        kind, length = framing(head.headers)
        if kind is Framing.LENGTH:
            while len(side.buffer) < length:
                side.buffer += self._more(side)
            return side.take(length)
        if kind is Framing.CHUNKED:
            end = BodyEnd(keep=True)
            parser = chunked_body_parser(end, request)
            while not end.done:
                parser.feed_data(side.take() or self._more(side))
            self._closing = True  # (whatever came after the body went to the parser)
            return b"".join(end.parts or ())
        if request:
            return b""
        chunks = [side.take()]  # an answer without framing: to the engine's end of it
        while data := self._receive(side):
            chunks.append(data)
        self._closing = True
        return b"".join(chunks)

    # -- one request -----------------------------------------------------------------------------
    def _handle(self, request: Head) -> bool:
        target = request.target.decode("latin-1")
        path = urlsplit(target).path
        method = request.method.decode("latin-1")
        if method == "POST" and _CREATE.match(path):
            return self._create(request, target)
        if method == "POST" and (_EXEC.match(path) or _START.match(path)):
            return self._noted(request, path)
        if method == "POST" and _BUILD.match(path):
            self.observer.building(True)
            try:
                return self._pass(request)
            finally:
                self.observer.building(False)
        return self._pass(request)

    def _pass(self, request: Head) -> bool:
        """Untouched: the request and its body as they arrive, then the answer likewise."""
        self.upstream.sendall(request.raw)
        frame = framing(request.headers)
        if frame[0] is not Framing.NONE:
            self._raw_body(self.from_client, self.upstream, frame, request=True)
        return self._relay_response(request)

    def _relay_response(self, request: Head) -> bool:
        """The engine's answer to `request`, forwarded; False when the connection ends with it."""
        response = self._read_head(self.from_engine, request=False)
        while response is not None and 100 <= response.status < 200 and response.status != 101:
            self.client.sendall(response.raw)
            response = self._read_head(self.from_engine, request=False)
        if response is None:
            return False
        if response.status == 101:  # attach, exec, /session: raw bytes both ways from here
            self.client.sendall(response.raw)
            self._splice(self.from_engine.take(), self.from_client.take())
            return False
        content_type = (response.header(b"content-type") or b"").decode("latin-1")
        frame = framing(response.headers)
        if content_type in _HIJACKED_TYPES and frame[0] is Framing.NONE:
            # the legacy hijack: 200 and raw bytes from here on, no framing
            self.client.sendall(response.raw)
            self._splice(self.from_engine.take(), self.from_client.take())
            return False
        has_body = request.method != b"HEAD" and response.status not in (204, 304)
        if not has_body:
            self.client.sendall(response.raw)
            return response.keep_alive
        if frame[0] is Framing.LENGTH and not self._closing:
            self.client.sendall(response.raw)
            self._raw_body(self.from_engine, self.client, frame, request=False)
            return response.keep_alive
        # a chunked stream (logs, events, a build's progress) or an answer to the engine's end:
        # byte for byte as it comes, and the client told this connection closes after it
        self.client.sendall(response.rewritten(drop=(b"connection",),
                                               add=[(b"Connection", b"close")]))
        self._raw_body(self.from_engine, self.client, frame, request=False)
        return False

    def _raw_body(self, source: Side, sink: socket.socket, frame: tuple[Framing, int],
                  request: bool) -> None:
        """Forward one message body's raw bytes from `source` to `sink`: what was read past
        the head first, then the socket's; llhttp (C) finds a chunked body's end without a
        Python step per chunk."""
        kind, length = frame
        if kind is Framing.LENGTH:
            remaining = length
            while remaining > 0:
                piece = source.take(remaining)
                if not piece:
                    piece = self._more(source)
                    if len(piece) > remaining:  # the next message's first bytes: kept
                        source.buffer += piece[remaining:]
                        piece = piece[:remaining]
                sink.sendall(piece)
                remaining -= len(piece)
            return
        if kind is Framing.NONE:  # (answers only) to the engine's end of it
            pending = source.take()
            while pending:
                sink.sendall(pending)
                pending = self._receive(source)
            return
        end = BodyEnd()
        parser = chunked_body_parser(end, request)
        pending = source.take()
        while True:
            if pending:
                sink.sendall(pending)
                try:
                    parser.feed_data(pending)
                except httptools.HttpParserError:
                    raise ClientGone from None  # a broken body: end this connection
                if end.done:
                    if request:
                        self._closing = True  # (bytes past its end, if any, were sent on)
                    return
            pending = self._more(source)

    def _create(self, request: Head, target: str) -> bool:
        """The one rewrite: the observer decides labels and security options."""
        body = self._whole_body(self.from_client, request, request=True)
        names = parse_qs(urlsplit(target).query).get("name") or []
        name = names[0] if names else None
        try:
            config = json.loads(body or b"{}")
            if not isinstance(config, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._answer(400, f"pytest-seccomp: the container's configuration is not JSON ({exc})")
            return request.keep_alive
        try:
            self.observer.before_create(self.proxy.api, config, name)
        except SeccompError as exc:
            self._answer(403, f"pytest-seccomp: {exc}")
            return request.keep_alive
        rewritten = json.dumps(config).encode()
        self.upstream.sendall(request.rewritten(
            drop=(b"content-length", b"transfer-encoding"),
            add=[(b"Content-Length", str(len(rewritten)).encode())]) + rewritten)
        response, answer = self._buffered_answer(request)
        if 200 <= response.status < 300:
            try:
                container_id = str(json.loads(answer).get("Id", ""))
            except ValueError:
                container_id = ""
            if container_id:
                self.observer.after_create(self.proxy.api, container_id, config, name)
        else:
            answer = self._explained(None, response.status, answer)
        self._send_answer(response, answer)
        return response.keep_alive

    def _noted(self, request: Head, path: str) -> bool:
        """start and exec create: passed through, then the answer is noted."""
        body = self._whole_body(self.from_client, request, request=True)
        self.upstream.sendall(request.rewritten(
            drop=(b"content-length", b"transfer-encoding"),
            add=[(b"Content-Length", str(len(body)).encode())]) + body)
        response, answer = self._buffered_answer(request)
        start, exec_ = _START.match(path), _EXEC.match(path)
        matched = start or exec_
        reference = matched.group(1) if matched else ""
        if 200 <= response.status < 300 and start:
            self.observer.after_start(reference)
        elif 200 <= response.status < 300 and exec_:
            try:
                cmd = json.loads(body or b"{}").get("Cmd") or []
            except (ValueError, AttributeError):
                cmd = []
            self.observer.after_exec_create(reference, cmd)
        elif response.status >= 400:
            answer = self._explained(reference, response.status, answer, started=bool(start))
        self._send_answer(response, answer)
        return response.keep_alive

    def _buffered_answer(self, request: Head) -> tuple[Head, bytes]:
        response = self._read_head(self.from_engine, request=False)
        while response is not None and 100 <= response.status < 200:
            response = self._read_head(self.from_engine, request=False)
        if response is None:
            raise ClientGone
        if request.method == b"HEAD" or response.status in (204, 304):
            return response, b""
        return response, self._whole_body(self.from_engine, response, request=False)

    def _explained(self, container: str | None, status: int, body: bytes,
                   started: bool = False) -> bytes:
        """An engine error the session can say more about (which profile it refused)."""
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            return body
        error = (StartError if started else EngineError)(status, message)
        better = self.observer.explain_failure(container, error)
        if better is None:
            return body
        return json.dumps({"message": f"pytest-seccomp: {better}"}).encode()

    def _send_answer(self, response: Head, body: bytes) -> None:
        add = [(b"Content-Length", str(len(body)).encode())]
        if self._closing:
            add.append((b"Connection", b"close"))
        self.client.sendall(response.rewritten(
            drop=(b"content-length", b"transfer-encoding",
                  *((b"connection",) if self._closing else ())), add=add) + body)

    def _answer(self, status: int, message: str) -> None:
        reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "")
        self.client.sendall(raw_response(status, reason, message, close=False))

    def _splice(self, to_client: bytes, to_engine: bytes) -> None:
        """A hijacked connection: raw bytes both ways until both sides have closed; a side
        that half-closes (stdin at its end) is half-closed on the other side too."""
        if to_client:
            self.client.sendall(to_client)
        if to_engine:
            self.upstream.sendall(to_engine)
        peers = {self.client: self.upstream, self.upstream: self.client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    source = key.fileobj
                    assert isinstance(source, socket.socket)
                    try:
                        data = source.recv(CHUNK)
                    except OSError:
                        data = b""
                    if data:
                        peers[source].sendall(data)
                        continue
                    selector.unregister(source)
                    if source is self.upstream:
                        return  # the engine ended the stream: nothing more will come
                    try:
                        peers[source].shutdown(socket.SHUT_WR)
                    except OSError:
                        return


