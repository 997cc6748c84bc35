"""`bpsn core --notify-port`: the core listens for ServiceNow's change notifications.

ServiceNow's outbound message (the u_bpsn_outbound_message record) POSTs to
http://HOST:PORT/api/bpsn/notifications with `Authorization: Bearer <BPSN_NOTIFY_TOKEN>`; a
notice wakes the core's delta watch between polls (integration/notifications.py). The token is
a secret: from the environment only, never printed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from bpsn.integration.notifications import (
    NOTIFICATION_PATH,
    ChangeFollower,
    NotificationApp,
)
from bpsn.integration.runner import IntegrationRunner

TOKEN_ENV = "BPSN_NOTIFY_TOKEN"
MIN_TOKEN_LENGTH = 16


def notify_token() -> str:
    """BPSN_NOTIFY_TOKEN, or ValueError saying what is wrong with it (never its value)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ValueError(f"--notify-port needs {TOKEN_ENV}: the shared secret ServiceNow's outbound message "
                         f"sends as 'Authorization: Bearer <token>' (python -c 'import secrets; "
                         f"print(secrets.token_urlsafe(32))')")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters: use a random token")
    return token


@contextlib.asynccontextmanager
async def notification_listener(runner: IntegrationRunner, host: str, port: int,
                                token: str) -> AsyncIterator[str]:
    """The notification endpoint served on host:port while the block runs; yields its URL."""
    from bpsn.stack import bound_port, listen, serve

    follower = ChangeFollower(lambda: runner)
    runner.between_cycles = follower.between_cycles
    sock = listen(host, port, "notify")
    url = f"http://{host}:{bound_port(sock)}{NOTIFICATION_PATH}"
    async with serve(NotificationApp(follower, token), host, bound_port(sock), sock=sock):
        yield url
