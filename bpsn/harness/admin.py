"""One simulator's admin API (`/_sim`), from synchronous test code.

The harness drives both simulators through their admin API only, whether they run in-process
(an ASGI transport), as servers in this process, or as a stack started elsewhere (`bpsn up`):
one code path, checked by the simulators' own validation, serialised with their requests.
"""

from __future__ import annotations

from typing import Any

import httpx


class AdminError(RuntimeError):
    """A /_sim call was refused; the message is the simulator's own."""


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text[:500]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # ServiceNow's envelope
            return f"{error.get('message', '')}: {error.get('detail', '')}".strip(": ")
        if isinstance(body.get("errors"), list):  # BigPanda's
            return "; ".join(str(e) for e in body["errors"])
    return str(body)[:500]


class SimulatorAdmin:
    """`/_sim` of one simulator over a synchronous httpx client (its base URL is the simulator's)."""

    def __init__(self, name: str, client: httpx.Client) -> None:
        self.name, self.client = name, client

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.client.request(method, f"/_sim{path}", **kwargs)
        if r.status_code >= 400:
            raise AdminError(f"{self.name} {method} /_sim{path}: HTTP {r.status_code}: {_message(r)}")
        return r.json() if r.content else None

    def healthy(self) -> bool:
        try:
            return self.client.get("/_sim/health").status_code == 200
        except httpx.TransportError:
            return False

    def reset(self) -> None:
        self.call("POST", "/reset")

    def now(self) -> float:
        return float(self.call("GET", "/clock")["now"])

    def advance(self, seconds: float) -> float:
        return float(self.call("POST", "/clock/advance", json={"seconds": seconds})["now"])

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        return list(self.call("GET", "/journal", params=params)["entries"])

    def clear_journal(self) -> None:
        self.call("DELETE", "/journal")

    def load_fixtures(self, data: dict[str, Any]) -> Any:
        return self.call("POST", "/fixtures", json=data)


class FaultRules:
    """The fault rules of one simulator: `add(status=503, path="/api/now/v1/batch", times=2)`.

    A rule is checked by the simulator: an unknown or misspelt field is refused, naming it."""

    def __init__(self, admin: SimulatorAdmin) -> None:
        self._admin = admin

    def add(self, **rule: Any) -> dict[str, Any]:
        return dict(self._admin.call("POST", "/faults", json=rule))

    def remove(self, rule_id: int) -> None:
        self._admin.call("DELETE", f"/faults/{rule_id}")

    def clear(self) -> None:
        self._admin.call("DELETE", "/faults")

    def list(self) -> list[dict[str, Any]]:
        return list(self._admin.call("GET", "/faults"))


class Faults:
    """Fault rules of both simulators: `faults.servicenow.add(...)`, `faults.bigpanda.add(...)`,
    `faults.clear()` for both."""

    def __init__(self, bigpanda: SimulatorAdmin, servicenow: SimulatorAdmin) -> None:
        self.bigpanda, self.servicenow = FaultRules(bigpanda), FaultRules(servicenow)

    def clear(self) -> None:
        self.bigpanda.clear()
        self.servicenow.clear()


class SharedClock:
    """The one clock both simulators (and the core) read: `now()`, and `advance(seconds)`, which
    also runs both simulators' timers (push retries, snooze wake-ups) at once."""

    def __init__(self, bigpanda: SimulatorAdmin, servicenow: SimulatorAdmin) -> None:
        self._bigpanda, self._servicenow = bigpanda, servicenow

    def now(self) -> float:
        return self._bigpanda.now()

    def advance(self, seconds: float) -> float:
        before = self._servicenow.now()
        now = self._bigpanda.advance(seconds)
        moved = self._servicenow.now() - before
        # one shared clock (bpsn up, the benches): advancing by 0 runs ServiceNow's timers; two
        # simulators started apart have a clock each, so ServiceNow's is advanced as well
        self._servicenow.advance(0 if moved >= seconds - 0.5 else seconds)
        return now
