"""The whole-response worker: gunicorn's header and body leave in a single send."""

from __future__ import annotations

import socket

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
