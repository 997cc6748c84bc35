"""The server stack: uvicorn with httptools' parser (the default where it installs) and with
h11 (the fallback) answers malformed requests with a 4xx and keeps serving."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from bpsn.base.clock import SimClock
from bpsn.simulator.servicenow.app import create_app
from bpsn.simulator.servicenow.backend import ServiceNowBackend

MALFORMED = {
    "a broken request line": b"GET\r\n\r\n",
    "a header without a colon": b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n",
    "a negative content length": b"POST /api/now/table/incident HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "bad chunked encoding": (b"POST /api/now/table/incident HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Authorization: Basic YWRtaW46YWRtaW4=\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    "a control character in a header": b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
}


@pytest.fixture(params=["httptools", "h11"], scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(create_app(ServiceNowBackend(clock=SimClock.virtual())), http=request.param,
                            log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield request.param, sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        loop.close()
        sock.close()


def raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_gets_a_4xx_or_a_closed_connection_and_the_server_goes_on(
        server: tuple[str, int], case: str) -> None:
    parser, port = server
    answer = raw(port, MALFORMED[case])
    if answer:  # a parser that answers says 4xx; one that cannot parse at all may close the connection
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, (parser, case, answer[:200])
    assert httpx.get(f"http://127.0.0.1:{port}/_sim/health").status_code == 200, (parser, case)


def test_the_default_stack_is_httptools_and_uvloop() -> None:
    config = uvicorn.Config(create_app(ServiceNowBackend(clock=SimClock.virtual())))
    config.load()
    assert config.http_protocol_class.__module__.endswith("httptools_impl")
    import uvloop  # noqa: F401 - installed with bpsn where the platform has it
