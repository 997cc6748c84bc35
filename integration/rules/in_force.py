"""The transform rules as the runner applies them: the organisation's rule set, read again after
`ttl` seconds of the core's clock (kept on a failed read), and applied to the engine's first
writes for a share: a rule may change the ticket, skip it, or set BigPanda incident tags."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bpsn.base.clock import Clock
from bpsn.integration.clients.servicenow import ServiceNowError
from bpsn.integration.engine.messages import Command, CreateTicket, SendCallback, UpdateTicket

from .commands import command_after_rules, rules_for_command
from .model import Rule
from .store import RuleStore

log = logging.getLogger("bpsn.integration.runner")
SetTags = Callable[[str, str, dict[str, Any]], Awaitable[Any]]  # (environment, incident, tags)


class RulesInForce:
    def __init__(self, store: RuleStore, clock: Clock, ttl: float = 60.0) -> None:
        self.store, self.clock, self.ttl = store, clock, ttl  # ttl: seconds a rule set is used
        self._rules: tuple[float, list[Rule]] | None = None

    async def current(self, namespace: str) -> list[Rule]:
        """The organisation's transform rules, read again after `ttl`; kept on a failed read."""
        now = self.clock.now()
        if self._rules is None or now - self._rules[0] >= self.ttl:
            try:
                self._rules = (now, await self.store.rules(namespace))
            except (ServiceNowError, OSError) as exc:
                log.warning("transform rules not read; the last ones read stay in use: %s", exc)
                return self._rules[1] if self._rules else []
        return self._rules[1]

    @staticmethod
    async def apply(rules: list[Rule], share: dict[str, Any], commands: list[Command],
                    set_tags: SetTags) -> tuple[list[Command], bool]:
        """The engine's first writes for a share after the rules; True when one skipped it."""
        out: list[Command] = []
        skipped = False
        for command in commands:
            if not isinstance(command, (CreateTicket, UpdateTicket)):
                out.append(command)
                continue
            outcome = rules_for_command(rules, share["incident"], command)
            if outcome.tags:
                await set_tags(share["environment_id"], share["incident_id"], outcome.tags)
            changed = command_after_rules(command, outcome)
            if changed is None:
                skipped = True
                ticket = command.ticket if isinstance(command, UpdateTicket) else None
                out.append(SendCallback(command.share_id, command.incident_id, ticket))
            else:
                out.append(changed)
        return out, skipped
