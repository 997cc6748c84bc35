"""The core's pacing under BigPanda's limit, on a virtual clock: `burst` requests in any
`burst / rate` seconds, each counted until a window after its answer."""

from __future__ import annotations

import asyncio

import pytest

from bpsn.integration.clients.http import Pacer


class VirtualTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)  # let the other callers run, as a real sleep would


def one_after_another(rate: float, burst: int, requests: int, answer_s: float = 0.0) -> list[tuple[float, float]]:
    """(sent, answered) of `requests` sent one after another, each answered `answer_s` later."""
    t = VirtualTime()
    pacer = Pacer(rate, burst, clock=t.clock, sleep=t.sleep)

    async def run() -> list[tuple[float, float]]:
        out = []
        for _ in range(requests):
            async with pacer.slot():
                sent = t.now
                await t.sleep(answer_s)
            out.append((round(sent - 1000.0, 6), round(t.now - 1000.0, 6)))
        return out
    return asyncio.run(run())


def assert_never_more_than_burst(calls: list[tuple[float, float]], burst: int, window: float) -> None:
    """Wherever the server stamps each request between its sending and its answer, no window holds
    more than `burst`: request n + burst leaves at least a window after request n was answered."""
    by_send = sorted(calls)
    for earlier, later in zip(by_send, by_send[burst:]):
        assert later[0] >= earlier[1] + window - 1e-9, (earlier, later)


def test_burst_one_spaces_every_request():
    assert [s for s, _ in one_after_another(4.0, 1, 4)] == [0.0, 0.25, 0.5, 0.75]


def test_burst_lets_requests_leave_back_to_back_then_waits_for_the_window():
    sent = [s for s, _ in one_after_another(4.5, 5, 12)]
    assert sent[:5] == [0.0] * 5  # a retrieval and its callback need not wait for each other
    assert sent[5] == pytest.approx(5 / 4.5)
    assert len(sent) / (sent[-1] + 5 / 4.5) <= 4.5 + 1e-9  # the average rate holds


def test_the_window_runs_from_each_answer_so_network_delay_cannot_cause_a_429():
    calls = one_after_another(5.0, 5, 40, answer_s=0.1)
    assert_never_more_than_burst(calls, 5, 1.0)
    assert calls[5][0] == pytest.approx(1.1)  # the first answer (0.1 s) + the 1 s window


def test_concurrent_callers_never_hold_more_than_burst_places_and_are_served_in_order():
    t = VirtualTime()
    pacer = Pacer(5.0, 5, clock=t.clock, sleep=t.sleep)
    calls: list[tuple[float, float]] = []
    order: list[int] = []
    out = 0

    async def caller(n: int) -> None:
        nonlocal out
        async with pacer.slot():
            order.append(n)
            out += 1
            assert out <= 5
            sent = t.now
            await t.sleep(0.05 * (n % 3))
            out -= 1
        calls.append((sent, t.now))

    async def run() -> None:
        await asyncio.gather(*(caller(n) for n in range(23)))
    asyncio.run(run())
    assert order == list(range(23))
    assert_never_more_than_burst(calls, 5, 1.0)


def test_a_failed_request_still_holds_its_place():
    t = VirtualTime()
    pacer = Pacer(1.0, 1, clock=t.clock, sleep=t.sleep)

    async def run() -> float:
        with pytest.raises(ConnectionError):
            async with pacer.slot():
                raise ConnectionError("the request may have reached the server")
        async with pacer.slot():
            return t.now - 1000.0
    assert asyncio.run(run()) == pytest.approx(1.0)


@pytest.mark.parametrize("rate, burst", [(0, 5), (-1, 1), (4.5, 0)])
def test_bad_pacing_is_refused(rate: float, burst: int):
    with pytest.raises(ValueError, match="pacing"):
        Pacer(rate, burst)
