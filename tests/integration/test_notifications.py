"""The core's notification endpoint (integration/notifications.py): authentication, clear 4xx
for bad notices, the echo guard, and the wait between polls that a notice or a tag window ends."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from bpsn.base.clock import SimClock
from bpsn.integration.notifications import (
    NOTIFICATION_PATH,
    ChangeFollower,
    NotificationApp,
    parse_notice,
)

TOKEN = "t0ken-for-tests"
SYS_ID = "0123456789abcdef0123456789abcdef"
NOTICE = {"table": "incident", "sys_id": SYS_ID, "operation": "update", "sys_updated_on": "2026-01-01 00:00:05",
          "sys_updated_by": "noc.analyst", "fields": ["state"]}


class FakeRunner:
    """What the follower uses of a runner: the watch, the tag windows, the module switch, the gate."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.watch_passes = 0
        self.flushes = 0
        self.tag_due: float | None = None
        self.engine = SimpleNamespace(settings=SimpleNamespace(active=True),
                                      tags=SimpleNamespace(next_due=lambda: self.tag_due))
        self.outage = SimpleNamespace(closed=False)
        self.watch = SimpleNamespace(user_name="bigpanda.integration", flush_tags=self._flush)

    async def watch_once(self) -> int:
        self.watch_passes += 1
        return 1

    async def _flush(self) -> int:
        self.flushes += 1
        self.tag_due = None
        return 1


def _client(follower: ChangeFollower, woken: list[int] | None = None) -> httpx.AsyncClient:
    app = NotificationApp(follower, TOKEN, on_notice=(lambda: woken.append(1)) if woken is not None else None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://core")


def _follower(runner: FakeRunner) -> ChangeFollower:
    return ChangeFollower(lambda: runner)  # type: ignore[arg-type,return-value]


def test_accepted_notice_wakes_and_own_writes_do_not() -> None:
    runner = FakeRunner(SimClock.virtual())
    follower, woken = _follower(runner), []

    async def go() -> list[httpx.Response]:
        async with _client(follower, woken) as c:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            return [await c.post(NOTIFICATION_PATH, json=NOTICE, headers=auth),
                    await c.post(NOTIFICATION_PATH, json={**NOTICE, "sys_updated_by": "bigpanda.integration"},
                                 headers=auth)]
    first, own = asyncio.run(go())
    assert (first.status_code, first.json()["result"]["watch"]) == (202, "scheduled")
    assert (own.status_code, own.json()["result"]["watch"]) == (202, "own write")
    assert woken == [1] and follower.counts.received == 2 and follower.counts.own_writes == 1
    assert follower.due_in() == 0.0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_a_wrong_or_missing_header_is_401(headers: dict[str, str]) -> None:
    follower = _follower(FakeRunner(SimClock.virtual()))

    async def go() -> httpx.Response:
        async with _client(follower) as c:
            return await c.post(NOTIFICATION_PATH, json=NOTICE, headers=headers)
    r = asyncio.run(go())
    assert r.status_code == 401 and r.json()["error"]["message"] == "User Not Authenticated"
    assert follower.counts.refused == 1 and follower.due_in() is None


@pytest.mark.parametrize(("body", "detail"), [
    (b"{not json", "not JSON"),
    (b"[]", "JSON object"),
    (b'{"table": "incident", "operation": "update"}', "'sys_id' is required"),
    (b'{"table": "incident", "sys_id": "XYZ", "operation": "update"}', "32 lowercase hexadecimal"),
    (b'{"table": "incident", "sys_id": "' + SYS_ID.encode() + b'", "operation": "merge"}', "must be one of"),
    (b'{"table": "incident", "sys_id": "' + SYS_ID.encode() + b'", "operation": "update", "fields": "x"}',
     "list of field names"),
])
def test_a_bad_notice_is_a_clear_400(body: bytes, detail: str) -> None:
    follower = _follower(FakeRunner(SimClock.virtual()))

    async def go() -> httpx.Response:
        async with _client(follower) as c:
            return await c.post(NOTIFICATION_PATH, content=body, headers={"Authorization": f"Bearer {TOKEN}"})
    r = asyncio.run(go())
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "Invalid change notice" and detail in r.json()["error"]["detail"]
    assert follower.due_in() is None


def test_other_paths_and_methods() -> None:
    follower = _follower(FakeRunner(SimClock.virtual()))

    async def go() -> tuple[int, int]:
        async with _client(follower) as c:
            return (await c.post("/elsewhere", json=NOTICE)).status_code, (await c.get(NOTIFICATION_PATH)).status_code
    assert asyncio.run(go()) == (404, 405)


def test_parse_notice_keeps_the_fields() -> None:
    notice = parse_notice(NOTICE)
    assert (notice.table, notice.operation, notice.fields) == ("incident", "update", ("state",))


def test_no_token_no_endpoint() -> None:
    with pytest.raises(ValueError, match="BPSN_NOTIFY_TOKEN"):
        NotificationApp(_follower(FakeRunner(SimClock.virtual())), "")


def test_between_polls_a_notice_runs_the_watch_at_once_and_a_tag_window_its_flush() -> None:
    clock = SimClock()  # a running clock: the wait is real
    runner = FakeRunner(clock)
    follower = _follower(runner)

    async def go() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        waiting = asyncio.create_task(follower.between_cycles(stop, 30.0))
        await asyncio.sleep(0.05)
        assert runner.watch_passes == 0  # nothing asked for yet
        started = loop.time()
        follower.accept(parse_notice(NOTICE))
        while runner.watch_passes == 0:
            await asyncio.sleep(0.005)
        watch_after = loop.time() - started
        runner.tag_due = clock.now() + 0.2  # the watch opened a coalesce window
        follower.accept(parse_notice({**NOTICE, "fields": ["subcategory"]}))
        while runner.flushes == 0:
            await asyncio.sleep(0.005)
        flush_after = loop.time() - started
        stop.set()
        await asyncio.wait_for(waiting, 1.0)  # stop ends the wait at once, not after 30 s
        return {"watch_after": watch_after, "flush_after": flush_after}
    timings = asyncio.run(go())
    assert timings["watch_after"] < 0.5
    assert 0.15 < timings["flush_after"] < 1.0  # when the window ended, not at the next poll
    assert runner.watch_passes == 2 and follower.counts.watches == 2 and follower.counts.tag_flushes == 1


def test_without_a_notice_the_wait_is_the_poll_interval_and_does_nothing() -> None:
    runner = FakeRunner(SimClock())
    runner.tag_due = runner.clock.now()  # a window open before any notice: the poll's watch owns it

    async def go() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await _follower(runner).between_cycles(asyncio.Event(), 0.2)
        return loop.time() - started
    assert 0.15 < asyncio.run(go()) < 1.0
    assert runner.watch_passes == 0 and runner.flushes == 0


def test_bpsn_core_listener_serves_the_endpoint_on_loopback() -> None:
    from bpsn.cli.notify import notification_listener

    runner = FakeRunner(SimClock())

    async def go() -> tuple[int, int]:
        async with notification_listener(runner, "127.0.0.1", 0, TOKEN) as url:  # type: ignore[arg-type]
            assert url.startswith("http://127.0.0.1:") and url.endswith(NOTIFICATION_PATH)
            async with httpx.AsyncClient() as c:
                ok = await c.post(url, json=NOTICE, headers={"Authorization": f"Bearer {TOKEN}"})
                refused = await c.post(url, json=NOTICE)
        return ok.status_code, refused.status_code
    assert asyncio.run(go()) == (202, 401)
    assert runner.between_cycles is not None  # type: ignore[attr-defined]


def test_bpsn_core_needs_a_token_for_notifications() -> None:
    """A refusal before the core starts: `bpsn core` through the root command, in this process."""
    from typer.testing import CliRunner

    from bpsn.cli.main import app

    done = CliRunner().invoke(app, ["core", "--notify-port", "0"], env={"BPSN_NOTIFY_TOKEN": None}, prog_name="bpsn")
    assert done.exit_code == 2 and "BPSN_NOTIFY_TOKEN" in done.stderr, done.stdout + done.stderr
