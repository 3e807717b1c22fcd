"""The session's one interception point: a Docker Engine API proxy on a private unix socket.

Published as `DOCKER_HOST` for the whole session, so every client in the pytest process and in
its subprocesses (the docker SDK, the docker CLI, compose v1 and v2, python-on-whales,
pytest-docker, testcontainers) reaches the engine through it. It rewrites one request,
`POST /containers/create` (labels, security options: the observer decides), and notes three
answers (a container created, started, an exec created); everything else passes through
unchanged: streamed bodies as they arrive, and hijacked connections (attach, exec start,
BuildKit's session) as raw bytes both ways once the engine has switched protocols.

HTTP/1.1 is parsed with h11. One thread per client connection (a stream such as `logs -f` may
last the whole session, and a thread blocked on it costs nothing); every thread and socket is
closed when its client goes away or when the proxy stops.
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

import h11
import httptools

from .errors import SeccompError

_API = r"^(?:/v[0-9.]+)?"
_CREATE = re.compile(_API + r"/containers/create$")
_START = re.compile(_API + r"/containers/([^/]+)/start$")
_EXEC = re.compile(_API + r"/containers/([^/]+)/exec$")
_BUILD = re.compile(_API + r"/build$")
_HIJACKED_TYPES = ("application/vnd.docker.raw-stream", "application/vnd.docker.multiplexed-stream")
_CHUNK = 1 << 20  # bytes per read: streams of hundreds of MiB in few Python steps
_MAX_HEAD = 1 << 20
_STREAM_MIN = 1 << 20  # bodies above this size (or chunked) pass as raw bytes
# what httptools is told before a body's raw bytes, so that it finds the body's end
_CHUNKED_REQUEST = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
_CHUNKED_RESPONSE = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


class EngineError(Exception):
    """An error answer of the engine (status and its message), for the observer to explain."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
        import docker

        from .engine import MIN_API_VERSION

        with self._lock:
            if self._api is None:  # (a version given: no GET /version, which runs runc)
                self._api = docker.APIClient(base_url=self.upstream.url, timeout=30,
                                             version=MIN_API_VERSION)
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
        _read_request_head(client)  # unread input would make close() reset the answer away
        client.sendall(_raw_response(502, "Bad Gateway", message))


def _read_request_head(client: socket.socket, timeout: float = 2.0) -> None:
    """Read the client's request head (and what else arrives at once), giving up quietly."""
    parser = h11.Connection(h11.SERVER)
    client.settimeout(timeout)
    try:
        while parser.next_event() is h11.NEED_DATA:
            data = client.recv(_CHUNK)
            parser.receive_data(data)
            if not data:
                return
    except (OSError, h11.RemoteProtocolError):
        return
    finally:
        client.settimeout(None)


def _raw_response(status: int, reason: str, message: str) -> bytes:
    """A complete JSON error answer, for when no parser state can be trusted any more."""
    body = json.dumps({"message": message}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class _ClientGone(Exception):
    pass


class _Exchange:
    """One client connection and its engine connection: requests one after another
    (keep-alive), each either passed through, rewritten (create) or hijacked."""

    def __init__(self, proxy: EngineProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.observer = proxy._observer
        self.client = client
        self.upstream = upstream
        # build contexts carry registry credentials in a header: allow big heads
        self.server = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD)
        self.engine = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD)
        self._selector: selectors.BaseSelector | None = None  # made at the first wait
        self._closing = False  # a body went past h11: the connection ends after this answer

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()

    def run(self) -> None:
        while True:
            try:
                request = self._client_event()
            except h11.RemoteProtocolError as exc:
                self.client.sendall(_raw_response(400, "Bad Request",
                                                  f"pytest-seccomp: malformed request: {exc}"))
                return
            if not isinstance(request, h11.Request):
                return  # the client closed the connection
            if not self._handle(request):
                return
            if not _finished(self.server):
                return
            self.server.start_next_cycle()
            if _finished(self.engine):
                self.engine.start_next_cycle()
            elif self.engine.states != {h11.CLIENT: h11.IDLE, h11.SERVER: h11.IDLE}:
                return  # the engine's side is mid-message: this connection cannot go on

    # -- reading -------------------------------------------------------------------------------
    def _client_event(self) -> Any:
        while True:
            event = self.server.next_event()
            if event is h11.NEED_DATA:
                data = self.client.recv(_CHUNK)
                self.server.receive_data(data)
                continue
            return event

    def _engine_event(self) -> Any:
        """The engine's next event; meanwhile a client that hangs up ends the exchange."""
        while True:
            event = self.engine.next_event()
            if event is not h11.NEED_DATA:
                return event
            self._wait_for_engine()
            self.engine.receive_data(self.upstream.recv(_CHUNK))

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
                data = self.client.recv(_CHUNK)
                if not data:
                    raise _ClientGone
                self.server.receive_data(data)  # pipelined: kept for its turn
                self._selector.unregister(self.client)  # from now on, only the engine

    def _request_body(self) -> bytes:
        return _whole_body(self._client_event)

    def _response_body(self) -> bytes:
        return _whole_body(self._engine_event)

    # -- one request -----------------------------------------------------------------------------
    def _handle(self, request: h11.Request) -> bool:
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

    def _send_engine(self, *events: Any) -> None:
        for event in events:
            data = self.engine.send(event)
            if data:
                self.upstream.sendall(data)

    def _send_client(self, *events: Any) -> None:
        for event in events:
            data = self.server.send(event)
            if data:
                self.client.sendall(data)

    def _pass(self, request: h11.Request) -> bool:
        """Untouched: the request and its body as they arrive, then the answer likewise."""
        self._send_engine(h11.Request(method=request.method, target=request.target,
                                      headers=request.headers.raw_items()))
        framing = _framing(request.headers)
        if _streamed(framing):
            # a big body (docker cp in, a build context): its raw bytes as they come, the
            # parser (C) only finding its end; this connection then closes after the answer
            self._raw_body(self.server, self.client, self.upstream, framing, request=True)
            self._closing = True
            self._relay_response(request)
            return False
        if not _relay_body(self._client_event, self._send_engine):
            return False
        return self._relay_response(request)

    def _relay_response(self, request: h11.Request) -> bool:
        response = self._engine_event()
        while isinstance(response, h11.InformationalResponse) and response.status_code != 101:
            self._send_client(response)
            response = self._engine_event()
        if isinstance(response, h11.InformationalResponse):  # 101: attach, exec, /session
            self._send_client(h11.InformationalResponse(
                status_code=101, headers=response.headers.raw_items(), reason=response.reason))
            self._splice(self.engine.trailing_data[0], self.server.trailing_data[0])
            return False
        if not isinstance(response, h11.Response):
            return False
        content_type = dict(response.headers).get(b"content-type", b"").decode("latin-1")
        if content_type in _HIJACKED_TYPES and not _has_body_framing(response):
            # the legacy hijack: 200 and raw bytes from here on, no framing
            head = [f"HTTP/1.1 {response.status_code} {response.reason.decode('latin-1')}\r\n"]
            head += [f"{k.decode('latin-1')}: {v.decode('latin-1')}\r\n"
                     for k, v in response.headers.raw_items()]
            self.client.sendall("".join(head).encode("latin-1") + b"\r\n")
            pending = b""
            event = self.engine.next_event()  # the raw stream h11 already read, as body data
            while isinstance(event, h11.Data):
                pending += bytes(event.data)
                event = self.engine.next_event()
            self._splice(pending, _drain(self.server))
            return False
        framing = _framing(response.headers)
        has_body = request.method != b"HEAD" and response.status_code not in (204, 304)
        headers = response.headers.raw_items()
        if self._closing or (has_body and _streamed(framing)):
            # the client is told this connection closes after this answer
            headers = [(k, v) for k, v in headers if k.lower() != b"connection"]
            headers.append((b"Connection", b"close"))
        if has_body and framing[0] is not None and (self._closing or _streamed(framing)):
            # a stream (logs, cp out, events): byte for byte as it comes, the parser (C) only
            # finding its end
            self._send_client(h11.Response(status_code=response.status_code, headers=headers,
                                           reason=response.reason))
            self._raw_body(self.engine, self.upstream, self.client, framing, request=False)
            return False
        self._send_client(h11.Response(status_code=response.status_code, headers=headers,
                                       reason=response.reason))
        return _relay_body(self._engine_event, self._send_client)

    def _raw_body(self, parsed_by: h11.Connection, source: socket.socket, sink: socket.socket,
                  framing: tuple[str | None, int], request: bool) -> None:
        """Forward one message body's raw bytes from `source` to `sink`: what h11 has already
        read past the head first, then the socket's; httptools (llhttp, C) finds a chunked
        body's end without a Python step per chunk."""
        pending = _drain(parsed_by)
        kind, length = framing
        if kind == "length":
            remaining = length
            while remaining > 0:
                if not pending:
                    pending = self._receive(source, request)
                piece, pending = pending[:remaining], b""
                sink.sendall(piece)
                remaining -= len(piece)
            return
        end = _BodyEnd()
        parser = (httptools.HttpRequestParser(end) if request
                  else httptools.HttpResponseParser(end))
        parser.feed_data(_CHUNKED_REQUEST if request else _CHUNKED_RESPONSE)
        while True:
            if pending:
                sink.sendall(pending)
                try:
                    parser.feed_data(pending)
                except httptools.HttpParserError:
                    raise _ClientGone from None  # a broken body: end this connection
                if end.done:
                    return
            pending = self._receive(source, request)

    def _receive(self, source: socket.socket, request: bool) -> bytes:
        """The next bytes of a body; from the engine, watching for the client hanging up
        only while the engine is quiet (no extra syscall per read while a stream flows)."""
        if not request:
            try:
                data = source.recv(_CHUNK, socket.MSG_DONTWAIT)
            except BlockingIOError:
                self._wait_for_engine()
                data = source.recv(_CHUNK)
            if not data:
                raise _ClientGone
            return data
        data = source.recv(_CHUNK)
        if not data:
            raise _ClientGone
        return data

    def _create(self, request: h11.Request, target: str) -> bool:
        """The one rewrite: the observer decides labels and security options."""
        body = self._request_body()
        names = parse_qs(urlsplit(target).query).get("name") or []
        name = names[0] if names else None
        try:
            config = json.loads(body or b"{}")
            if not isinstance(config, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._answer(400, f"pytest-seccomp: the container's configuration is not JSON ({exc})")
            return True
        try:
            self.observer.before_create(self.proxy.api, config, name)
        except SeccompError as exc:
            self._answer(403, f"pytest-seccomp: {exc}")
            return True
        rewritten = json.dumps(config).encode()
        headers = [(k, v) for k, v in request.headers.raw_items()
                   if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"Content-Length", str(len(rewritten)).encode()))
        self._send_engine(h11.Request(method=request.method, target=request.target,
                                      headers=headers),
                          h11.Data(data=rewritten), h11.EndOfMessage())
        status, answer = self._buffered_answer()
        if 200 <= status < 300:
            try:
                container_id = str(json.loads(answer[1]).get("Id", ""))
            except ValueError:
                container_id = ""
            if container_id:
                self.observer.after_create(self.proxy.api, container_id, config, name)
        else:
            answer = self._explained(None, status, answer)
        self._send_answer(*answer)
        return True

    def _noted(self, request: h11.Request, path: str) -> bool:
        """start and exec create: passed through, then the answer is noted."""
        body = self._request_body()
        self._send_engine(h11.Request(method=request.method, target=request.target,
                                      headers=request.headers.raw_items()),
                          h11.Data(data=body), h11.EndOfMessage())
        status, answer = self._buffered_answer()
        start, exec_ = _START.match(path), _EXEC.match(path)
        matched = start or exec_
        reference = matched.group(1) if matched else ""
        if 200 <= status < 300 and start:
            self.observer.after_start(reference)
        elif 200 <= status < 300 and exec_:
            try:
                cmd = json.loads(body or b"{}").get("Cmd") or []
            except (ValueError, AttributeError):
                cmd = []
            self.observer.after_exec_create(reference, cmd)
        elif status >= 400:
            answer = self._explained(reference, status, answer)
        self._send_answer(*answer)
        return True

    def _buffered_answer(self) -> tuple[int, tuple[h11.Response, bytes]]:
        response = self._engine_event()
        while isinstance(response, h11.InformationalResponse):
            response = self._engine_event()
        if not isinstance(response, h11.Response):
            raise _ClientGone
        return response.status_code, (response, self._response_body())

    def _explained(self, container: str | None, status: int,
                   answer: tuple[h11.Response, bytes]) -> tuple[h11.Response, bytes]:
        """An engine error the session can say more about (which profile it refused)."""
        response, body = answer
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            return answer
        better = self.observer.explain_failure(container, EngineError(status, message))
        if better is None:
            return answer
        return response, json.dumps({"message": f"pytest-seccomp: {better}"}).encode()

    def _send_answer(self, response: h11.Response, body: bytes) -> None:
        headers = [(k, v) for k, v in response.headers.raw_items()
                   if k.lower() not in (b"content-length", b"transfer-encoding")]
        headers.append((b"Content-Length", str(len(body)).encode()))
        self._send_client(h11.Response(status_code=response.status_code, headers=headers,
                                       reason=response.reason),
                          h11.Data(data=body), h11.EndOfMessage())

    def _answer(self, status: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        reason = {400: b"Bad Request", 403: b"Forbidden"}.get(status, b"")
        self._send_client(h11.Response(status_code=status, reason=reason, headers=[
            (b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode())]),
            h11.Data(data=body), h11.EndOfMessage())

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
                        data = source.recv(_CHUNK)
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


def _has_body_framing(response: h11.Response) -> bool:
    names = {k.lower() for k, _ in response.headers}
    return b"content-length" in names or b"transfer-encoding" in names


def _relay_body(next_event: Any, send: Any) -> bool:
    """A (small) message body, event by event through h11; False when the peer went away."""
    while True:
        event = next_event()
        if isinstance(event, h11.Data):
            send(h11.Data(data=event.data))
        elif isinstance(event, h11.EndOfMessage):
            send(h11.EndOfMessage(headers=event.headers.raw_items()))
            return True
        else:
            return False


def _whole_body(next_event: Any) -> bytes:
    """A (small) message body, whole: a container's configuration, an API answer."""
    chunks = []
    while True:
        event = next_event()
        if isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        else:
            raise _ClientGone


class _BodyEnd:
    """httptools' callback object: only the end of the message matters."""

    def __init__(self) -> None:
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


def _framing(headers: Any) -> tuple[str | None, int]:
    """("chunked", 0), ("length", n) or (None, 0) from a message's headers."""
    for name, value in headers:
        if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            return "chunked", 0
    for name, value in headers:
        if name.lower() == b"content-length":
            return "length", int(value)
    return None, 0


def _streamed(framing: tuple[str | None, int]) -> bool:
    """Bodies worth passing as raw bytes: chunked (streams) or big."""
    return framing[0] == "chunked" or (framing[0] == "length" and framing[1] > _STREAM_MIN)


def _finished(connection: h11.Connection) -> bool:
    """Both sides done with this request: the connection may carry the next one."""
    return connection.our_state is h11.DONE and connection.their_state is h11.DONE


def _drain(connection: h11.Connection) -> bytes:
    """The raw bytes h11 has received but not parsed yet: a body that goes past it from here,
    or what a client sent after a request the engine hijacked without switching protocols
    (the legacy form). h11 offers them only once a connection switched protocols."""
    buffer = getattr(connection, "_receive_buffer", b"")
    return bytes(buffer)
