"""A listening socket bound before anything says "ready", and the one-line reason when it cannot be.

Its own module, below the stack: `bpsn sim` binds its socket with it without importing the stack
(the integration core and both simulators' apps, about 0.2 s of start-up per process).
"""

from __future__ import annotations

import errno
import socket


class ListenError(OSError):
    """host:port cannot be listened on: the port is taken or not allowed, or the host is not this machine's."""

    def __init__(self, host: str, port: int, reason: str, *, bad_host: bool = False, role: str = "") -> None:
        super().__init__(reason)
        self.host, self.port, self.reason, self.bad_host, self.role = host, port, reason, bad_host, role


def listen(host: str, port: int, role: str = "") -> socket.socket:
    """A socket bound to host:port (0: a free port, read back with getsockname) before anyone says "ready"."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = f"cannot resolve {host!r}: {getattr(exc, 'strerror', None) or exc}"
        raise ListenError(host, port, reason, bad_host=True, role=role) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
        sock.bind(address)
        sock.listen(2048)  # from here on connections wait in the backlog until uvicorn takes them
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, _bind_problem(host, port, exc), bad_host=exc.errno == errno.EADDRNOTAVAIL,
                          role=role) from None
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}"
    if exc.errno == errno.EACCES:
        return f"port {port} needs privileges on {host}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])
