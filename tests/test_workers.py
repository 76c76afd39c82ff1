"""The whole-response worker: gunicorn's header and body leave in a single send."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from pumpapi.workers import WholeResponseSocket


class RecordingSocket:
    """Unit-test stand-in for a client socket: records each call that reaches the network."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []

    def sendall(self, data):
        self.calls.append(("sendall", bytes(data)))

    def send(self, data):
        self.calls.append(("send", bytes(data)))
        return len(data)

    def sendfile(self, file, offset=0, count=None):
        self.calls.append(("sendfile", count))
        return count

    def shutdown(self, how):
        self.calls.append(("shutdown", how))

    def close(self):
        self.calls.append(("close", None))

    def getpeername(self):
        return ("127.0.0.1", 1234)


def test_header_and_body_leave_in_one_call_at_shutdown():
    raw = RecordingSocket()
    wrapped = WholeResponseSocket(raw)
    wrapped.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    wrapped.sendall(memoryview(b"{}"))
    assert raw.calls == []  # nothing on the wire while the response is incomplete
    wrapped.shutdown(socket.SHUT_WR)
    assert raw.calls == [
        ("sendall", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
        ("shutdown", socket.SHUT_WR),
    ]


def test_sendfile_follows_the_header_and_continue_is_not_held():
    raw = RecordingSocket()
    wrapped = WholeResponseSocket(raw)
    wrapped.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    wrapped.sendall(b"HEADER")
    wrapped.sendfile(object(), offset=0, count=10)
    wrapped.close()
    assert raw.calls == [
        ("send", b"HTTP/1.1 100 Continue\r\n\r\n"),
        ("sendall", b"HEADER"),
        ("sendfile", 10),
        ("close", None),
    ]
    assert wrapped.getpeername() == ("127.0.0.1", 1234)  # everything else passes through


def test_a_gone_peer_does_not_break_close():
    class GonePeer(RecordingSocket):
        def sendall(self, data):
            raise BrokenPipeError

    raw = GonePeer()
    wrapped = WholeResponseSocket(raw)
    wrapped.sendall(b"x")
    wrapped.close()
    assert raw.calls == [("close", None)]


def test_gunicorn_serves_whole_responses_with_this_worker(gunicorn_server, xgboost_trained):
    server = gunicorn_server(
        {"PUMPAPI_MODEL_STORE": str(xgboost_trained.root), "PUMPAPI_MODEL_FAMILIES": "xgboost"}
    )
    assert "Using worker: pumpapi.workers.WholeResponseSyncWorker" in server.log()
    # Every kind of response goes through it: JSON, errors, files sent with sendfile.
    assert requests.get(f"{server.url}/health", timeout=5).json()["status"] == "ok"
    assert requests.get(f"{server.url}/nope", timeout=5).status_code == 404
    asset = requests.get(f"{server.url}/docs/assets/swagger-ui.css", timeout=5)
    assert asset.status_code == 200 and asset.text.startswith(".swagger-ui")
    batch = {"instances": [{"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5,
             "tensao_bateria_v": 24.8, "tensao_alternador_v": 27.9}] * 2000}  # fmt: skip
    response = requests.post(f"{server.url}/model/xgboost/predict", json=batch, timeout=30)
    assert response.status_code == 200 and len(response.json()["results"]) == 2000


def _served_pair():
    """A connected pair of real sockets: the server's end wrapped as the worker wraps it."""
    server, peer = socket.socketpair()
    return WholeResponseSocket(server), peer


def test_a_request_read_whole_is_closed_without_waiting_for_the_peer():
    wrapped, peer = _served_pair()
    wrapped.request_read = True
    wrapped.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    wrapped.shutdown(socket.SHUT_WR)
    wrapped.settimeout(5)
    # The peer has not closed: gunicorn's drain would block here until it does (up to 2 s).
    assert wrapped.recv(4096) == b""
    assert peer.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n"
    wrapped.close()
    peer.close()


def test_unread_bytes_are_drained_as_gunicorn_does():
    wrapped, peer = _served_pair()
    wrapped.request_read = True
    peer.sendall(b"more of a body")
    wrapped.shutdown(socket.SHUT_WR)
    wrapped.settimeout(5)
    assert wrapped.recv(4096) == b"more of a body"
    peer.close()
    assert wrapped.recv(4096) == b""  # then the peer's close, waited for as usual
    wrapped.close()


def test_a_request_not_read_whole_waits_for_the_peer():
    wrapped, peer = _served_pair()  # request_read stays False (e.g. a refused body)
    wrapped.shutdown(socket.SHUT_WR)
    wrapped.settimeout(0.2)
    with pytest.raises(TimeoutError):
        wrapped.recv(4096)
    wrapped.close()
    peer.close()


def test_one_worker_serves_the_next_client_while_the_last_holds_its_socket(
    gunicorn_server, tmp_path
):
    server = gunicorn_server({"PUMPAPI_MODEL_STORE": str(tmp_path / "none")}, workers=1)
    host, port = server.url.removeprefix("http://").split(":")
    holder = socket.create_connection((host, int(port)), timeout=5)
    holder.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += holder.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    # The first client keeps its socket open. Stock gunicorn would keep the only worker
    # waiting for its close for 2 s; the next client is served at once.
    started = time.monotonic()
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
    assert time.monotonic() - started < 1.0
    # The first connection was closed by the server: its read ends.
    holder.settimeout(5)
    while holder.recv(4096):
        pass
    holder.close()


def test_a_refused_oversized_body_still_gets_its_whole_answer(gunicorn_server, tmp_path):
    server = gunicorn_server({"PUMPAPI_MODEL_STORE": str(tmp_path / "none")}, workers=1)
    body = b'{"instances": [' + b"1," * 3_000_000 + b"1]}"  # ~6 MB: over the body limit
    response = requests.post(
        f"{server.url}/model/xgboost/predict",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["code"] == 413


def test_the_gunicorn_internals_the_worker_relies_on():
    """WholeResponseSyncWorker overrides two methods of gunicorn's sync worker and reads its
    request body's reader: setup.cfg pins gunicorn to the minor releases where these hold, and
    this test names what to check before widening the pin."""
    import inspect

    import gunicorn
    from gunicorn import util
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.workers.sync import SyncWorker

    def parameters(function):
        return list(inspect.signature(function).parameters)

    assert gunicorn.version_info[:1] == (27,), gunicorn.__version__
    assert parameters(SyncWorker.handle) == ["self", "listener", "client", "addr"]
    assert parameters(SyncWorker.handle_request) == ["self", "listener", "req", "client", "addr"]
    # close_graceful sends FIN with shutdown(SHUT_WR), then drains with recv: the two calls
    # WholeResponseSocket intercepts to flush the held response and end the drain early.
    source = inspect.getsource(util.close_graceful)
    assert "sock.shutdown(socket.SHUT_WR)" in source and "sock.recv(" in source
    assert "util.close_graceful(client)" in inspect.getsource(SyncWorker.handle)
    # handle_error answers gunicorn's own refusals through util.write_error, which the worker
    # swaps for the JSON envelope (write_json_error) for the length of the call.
    from gunicorn.workers.base import Worker

    assert "util.write_error(client, status_int, reason, mesg)" in inspect.getsource(
        Worker.handle_error
    )
    assert parameters(util.write_error) == ["sock", "status_int", "reason", "mesg"]
    assert callable(util.write_nonblock)
    # read_whole reads how much of a Content-Length body is left, and whether reading failed.
    body = Body(LengthReader(unreader=None, length=0))
    assert body.reader.length == 0 and body.failed is False


@pytest.mark.parametrize("megabytes", [5, 40])
def test_a_body_sent_whole_over_the_limit_gets_the_413_not_a_broken_pipe(
    gunicorn_server, tmp_path, megabytes
):
    """http.client sends the whole body without waiting for `100 Continue`: the worker reads
    and discards it (up to errors.DRAIN_LIMIT), so the client reads the 413 envelope."""
    import http.client

    server = gunicorn_server({"PUMPAPI_MODEL_STORE": str(tmp_path / "none")}, workers=1)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(
        "POST",
        "/model/xgboost/predict",
        body=b"1" * (megabytes * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 413 and body["code"] == 413
    assert "limit of 2 MiB" in body["error"]


@pytest.mark.parametrize(
    "request_head, status",
    [
        (b"GET /health?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
        (b"BR\x00KEN\r\n\r\n", 400),
    ],
    ids=["request-line", "header-count", "header-size", "broken"],
)
def test_gunicorn_refusals_are_the_api_envelope(gunicorn_server, tmp_path, request_head, status):
    server = gunicorn_server({"PUMPAPI_MODEL_STORE": str(tmp_path / "none")}, workers=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_head)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), head
    assert b"Content-Type: application/json" in head
    envelope = json.loads(body)
    assert envelope["success"] is False and envelope["code"] == status and envelope["error"]
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
