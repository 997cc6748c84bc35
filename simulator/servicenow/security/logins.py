"""Failed logins slow an attacker down: a user name with too many recent failures is refused.

After `max_failures` failed basic-auth or OAuth password-grant attempts for one user name within
`window` seconds of the simulator clock, every attempt for that name is refused without the
password being checked, until the oldest of those failures is older than the window. Refused
attempts do not count as failures (so a locked name opens again on time), a success forgets the
name's failures, and unknown user names are counted like real ones (the answers do not tell them
apart). Settings: BPSN_SN_LOGIN_MAX_FAILURES and BPSN_SN_LOGIN_FAILURE_WINDOW.

Our choice where the instance's behaviour differs: a real instance sets `locked_out` after a
number of failures and waits for an administrator; the simulator only throttles, so a test can
cross the window with the virtual clock instead of unlocking users by hand.
"""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_TRACKED = 10_000  # user names with recent failures kept; guessed names must not fill memory


class LoginThrottle:
    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, user_name: str, now: float) -> deque[float] | None:
        times = self._failures.get(user_name)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[user_name]
            return None
        return times

    def refused(self, user_name: str, now: float) -> bool:
        """True while this name is locked: do not check its password."""
        times = self._recent(user_name, now)
        return times is not None and len(times) >= self.max_failures

    def failed(self, user_name: str, now: float) -> None:
        times = self._recent(user_name, now)
        if times is None:
            times = self._failures[user_name] = deque(maxlen=self.max_failures)
        times.append(now)
        self._failures.move_to_end(user_name)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def succeeded(self, user_name: str) -> None:
        self._failures.pop(user_name, None)

    def clear(self) -> None:
        self._failures.clear()
