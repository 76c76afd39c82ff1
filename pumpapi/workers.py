"""gunicorn's sync worker, sending each response whole (a killed worker never leaves half of
one) and closing each connection as soon as nothing of the request is left unread."""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import Any

import orjson
from gunicorn import util
from gunicorn.http.body import LengthReader
from gunicorn.workers.sync import SyncWorker

#: What gunicorn's own refusals mean for a client, in the API's words (its reasons are terse).
_GUNICORN_MESSAGES = {
    400: "The request is not valid HTTP: {detail}",
    414: "The request line (method, path and query) is too long: {detail}. Send the data in "
    "the body instead.",
    431: "The request's headers are too many or too large: {detail}.",
    500: "Internal error while handling the request; it has been logged.",
}


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error` in the API's envelope instead of an HTML page: requests
    gunicorn refuses before the app sees them (a request line over limit_request_line, too
    many or too large headers, broken HTTP)."""
    try:
        phrase = HTTPStatus(status_int).phrase
    except ValueError:
        phrase = reason
    template = _GUNICORN_MESSAGES.get(status_int, "{detail}")
    detail = (mesg or reason).strip().rstrip(".")
    body = orjson.dumps(
        {
            "success": False,
            "error": template.format(detail=detail[:300]),
            "code": status_int,
            "status": phrase,
        }
    )
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


class WholeResponseSocket:
    """A client socket that holds what gunicorn `sendall`s until the response is complete.

    gunicorn writes a response's header and its body in separate calls. A worker killed between
    the two leaves nginx holding a header it has already relayed to the client, so it can no
    longer retry the request on another instance: the client gets a truncated answer. Sent in
    one call, a response is either not started (nginx retries it elsewhere) or complete.
    The response is sent when gunicorn ends the connection (`shutdown`/`close`, the sync worker
    never keeps it alive) or before a `sendfile`, which must follow the header. `send` is not
    held back: gunicorn uses it for `100 Continue`, which must go out at once.
    """

    __slots__ = ("_sock", "_pending", "request_read", "_shut")

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._pending: list[bytes] = []
        #: Set by the worker once the request, body included, has been read whole.
        self.request_read = False
        self._shut = False

    def sendall(self, data: bytes) -> None:
        self._pending.append(bytes(data))

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._sock.sendall(data)

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def shutdown(self, how: int) -> None:
        self.flush()
        self._sock.shutdown(how)
        self._shut = True

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """gunicorn's `close_graceful`, after sending FIN, reads until the peer closes too (up
        to 2 s), so that unread request bytes never make the kernel answer RST and cut the
        response short. The worker serves no one while it waits for the client's FIN: a
        scheduling round trip of the client per request. When the request was read whole and
        nothing more has arrived, there is nothing to cut short: the drain ends at once."""
        if self._shut and self.request_read:
            self.request_read = False  # anything that arrives later is drained as usual
            timeout = self._sock.gettimeout()
            self._sock.setblocking(False)  # a socket with a timeout would wait for it first
            try:
                return self._sock.recv(bufsize, flags)
            except BlockingIOError:
                return b""  # nothing unread: close now
            finally:
                self._sock.settimeout(timeout)
        return self._sock.recv(bufsize, flags)

    def close(self) -> None:
        try:
            self.flush()
        except OSError:
            pass  # the peer is gone: nothing left to deliver
        finally:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def read_whole(req: Any) -> bool:
    """Whether gunicorn has read the request's body to its end (a bodiless request has a body
    of length 0); chunked bodies are never assumed read."""
    body = getattr(req, "body", None)
    reader = getattr(body, "reader", None)
    return isinstance(reader, LengthReader) and reader.length == 0 and not body.failed


class WholeResponseSyncWorker(SyncWorker):
    """The sync worker (chosen by measurement, see config/gunicorn.conf.py) with whole responses
    and a prompt close."""

    def handle_error(self, req, client, addr, exc):
        # gunicorn's base worker calls `util.write_error`; the sync worker is single-threaded,
        # so swapping it for the call is safe, and every other use of gunicorn is untouched.
        original, util.write_error = util.write_error, write_json_error
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            util.write_error = original

    def handle(self, listener, client, addr):
        # TLS ends at nginx; a TLS socket gunicorn wraps itself is left as it is.
        if not self.cfg.is_ssl:
            client = WholeResponseSocket(client)
        super().handle(listener, client, addr)

    def handle_request(self, listener, req, client, addr):
        super().handle_request(listener, req, client, addr)
        if isinstance(client, WholeResponseSocket):
            client.request_read = read_whole(req)
