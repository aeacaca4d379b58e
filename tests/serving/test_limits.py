"""Limits, against a served instance started with small, configured limits: body size, batch
length, CSV size and body timeout, each answered with a 4xx that names the limit; slow or
oversize uploads hold no memory and do not stop the service answering others."""

import http.client
import json
import socket
import time

import psutil
import pytest

KEY = "limits-test-key"
LIMITS = {
    "RELAPSE_RISK_MAX_BODY_BYTES": "20000",
    "RELAPSE_RISK_MAX_BATCH": "5",
    "RELAPSE_RISK_MAX_CSV_BYTES": "100000",
    "RELAPSE_RISK_BODY_TIMEOUT_SECONDS": "2",
}
PATIENT = {"age_years": 60, "ecog": 1, "stage": 3, "ldh_u_l": 300, "ldh_uln_u_l": 250}
BOUNDARY = "limits-boundary"


@pytest.fixture(scope="module")
def server(tmp_path_factory, start_server, trained):
    registry, _, _ = trained
    srv = start_server(registry.root, tmp_path_factory.mktemp("limits"), KEY, LIMITS)
    srv.wait_ready()
    yield srv
    srv.stop()


def _multipart(payload: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="in.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + payload
        + (f"\r\n--{BOUNDARY}--\r\n").encode()
    )


def _headers(path: str, length: int | None) -> bytes:
    kind = (
        f"multipart/form-data; boundary={BOUNDARY}" if path == "/score_csv" else "application/json"
    )
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {KEY}",
        f"Content-Type: {kind}",
    ]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket, seconds: float = 15) -> tuple[int, dict]:
    """Status and JSON body of the answer on a raw connection."""
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        [h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][
            0
        ]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


def _send_partial(server, path: str, declared: int | None, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(_headers(path, declared) + first)
    return sock


def test_body_batch_and_csv_limits_are_configurable_and_answered_413(server):
    # Declared too large: refused before the body is read.
    big = json.dumps({"patient": {**PATIENT, "patient_id": "x" * 25000}}).encode()
    sock = _send_partial(server, "/score", len(big), b"")
    status, body = _answer(sock)
    assert status == 413 and "larger than 20000 bytes" in body["error"] and body["notice"]
    # Not declared (chunked): counted while it streams in.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    conn.request(
        "POST",
        "/score",
        body=iter([big[i : i + 4096] for i in range(0, len(big), 4096)]),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 413 and b"larger than 20000 bytes" in resp.read()
    status, body, _ = server.post("/score_batch", {"patients": [PATIENT] * 6})
    assert status == 413 and "at most 5 patients per batch request; got 6" in body["error"]
    status, body, _ = server.post("/score_batch", {"patients": [PATIENT] * 5})
    assert status == 200 and body["scored"] == 5
    csv = b"age_years,ecog,stage\n" + b"60,1,3\n" * 20000
    sock = _send_partial(server, "/score_csv", len(_multipart(csv)), b"")
    status, body = _answer(sock)
    assert status == 413 and "larger than 100000 bytes" in body["error"]
    small = _multipart(b"age_years,ecog,stage\n60,1,3\n")
    status, _, _ = server.request(
        "POST",
        "/score_csv",
        raw=small,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert status == 200


@pytest.mark.parametrize("path", ["/score", "/score_csv"])
def test_a_body_that_stalls_gets_408_and_the_service_keeps_answering(server, path):
    first = b'{"patient": {"age_years": 6' if path == "/score" else _multipart(b"age")[:120]
    began = time.monotonic()
    sock = _send_partial(server, path, 5000, first)
    # While the upload stalls, everyone else is answered.
    assert server.post("/score", {"patient": PATIENT})[0] == 200
    status, body = _answer(sock)
    waited = time.monotonic() - began
    assert status == 408, body
    assert "did not arrive within 2 seconds" in body["error"] and body["notice"]
    assert 1.5 < waited < 12  # answered at the timeout, not at BentoML's request timeout
    sock.close()


def test_many_stalled_and_oversize_uploads_hold_no_memory(server):
    worker = max(
        psutil.Process(server.proc.pid).children(recursive=True), key=lambda p: p.memory_info().rss
    )
    before = worker.memory_info().rss
    # Twenty uploads that declare 10 GB (refused unread) and twenty that stall after 50 kB.
    oversize = [_send_partial(server, "/score_csv", 10 * 2**30, b"") for _ in range(20)]
    chunk = _multipart(b"age_years\n" + b"60\n" * 17000)[:50_000]
    stalled = [_send_partial(server, "/score_csv", 99_000, chunk) for _ in range(20)]
    for sock in oversize:
        assert _answer(sock)[0] == 413
        sock.close()
    assert server.post("/score", {"patient": PATIENT})[0] == 200
    for sock in stalled:
        assert _answer(sock)[0] == 408
        sock.close()
    grown = worker.memory_info().rss - before
    # 20 x 50 kB were in flight at most; allow for allocator slack, not for buffering
    # whole uploads (the refused ones alone declared 200 GB).
    assert grown < 30 * 2**20, f"worker RSS grew {grown / 2**20:.1f} MiB"
