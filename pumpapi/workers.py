"""gunicorn's sync worker, sending each response whole: a killed worker never leaves half of one."""

from __future__ import annotations

import socket
from typing import Any

from gunicorn.workers.sync import SyncWorker


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

    __slots__ = ("_sock", "_pending")

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._pending: list[bytes] = []

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

    def close(self) -> None:
        try:
            self.flush()
        except OSError:
            pass  # the peer is gone: nothing left to deliver
        finally:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class WholeResponseSyncWorker(SyncWorker):
    """The sync worker (chosen by measurement, see config/gunicorn.conf.py) with whole responses."""

    def handle(self, listener, client, addr):
        # TLS ends at nginx; a TLS socket gunicorn wraps itself is left as it is.
        if not self.cfg.is_ssl:
            client = WholeResponseSocket(client)
        super().handle(listener, client, addr)
