"""The ServiceNow delta watch: tickets changed in ServiceNow -> BigPanda incident actions.

Each pass reads `correlation_display=BigPanda^sys_updated_on>=<cursor>` oldest first (the
shared DeltaCursor, integration/clients/delta_cursor.py) and skips rows last updated by the core's own user (the echo guard: what the core wrote
came from BigPanda already). The engine decides; this module only carries out its commands.

Cursor: in memory. A fresh watch (after a restart) starts at `now - poll_interval`, so a
change made while the core was down for longer than one interval is not replayed (the
ticket's next change is). `>=` re-reads the cursor's second: rows already handled at that
second are remembered by (sys_id, sys_mod_count). A BigPanda action that fails after the
client's retries stops the pass and keeps the cursor at that row, so it is tried again.

Tags: mapped fields of those rows go to the engine's tag sync with references named (sys_id ->
display name through the reference cache); after the rows, changes whose coalesce window is
over leave as one tags call per incident (tag names -> ids through the tag directory). A
failed tags call stays pending and is tried again next pass.

Organisations: several cores (one per BigPanda organisation) may share one instance; a watch
handles only tickets its own organisation's core derived (mapping.owns_ticket), so a change
never reaches another organisation's BigPanda.

Environment: V2 paths need a BigPanda environment id. The runner records the environment of
every share it processes; for an incident it has not seen since its start the watch lists
the environments once (GET /resources/v2.0/environments, cached) and tries each (404 -> next).
"""

from __future__ import annotations

import logging
from typing import Any

from bpsn.base.clock import Clock, glide
from bpsn.integration.clients.bigpanda import BigPandaClient, BigPandaError
from bpsn.integration.clients.delta_cursor import DeltaCursor, read_changed
from bpsn.integration.clients.lookups import ReferenceCache, TagDirectory
from bpsn.integration.clients.servicenow import ServiceNowClient
from bpsn.integration.engine.incidents import IncidentEngine
from bpsn.integration.engine.mapping import owns_ticket
from bpsn.integration.engine.messages import (
    CoalesceTick,
    Command,
    CommentIncident,
    ResolveIncident,
    SetIncidentTags,
    SnoozeIncident,
    TagsSent,
    TicketChanged,
    TicketRef,
    UnsnoozeIncident,
)

log = logging.getLogger("bpsn.integration.watch")
WATCH_FIELDS = ["sys_id", "number", "state", "correlation_id", "hold_reason", "close_code", "close_notes",
                "resolved_at", "sys_updated_on", "sys_updated_by", "sys_mod_count"]


class ServiceNowWatch:
    def __init__(self, servicenow: ServiceNowClient, bigpanda: BigPandaClient, engine: IncidentEngine,
                 clock: Clock, *, user_name: str, poll_interval: float, batch: int = 100,
                 references: ReferenceCache | None = None, directory: TagDirectory | None = None) -> None:
        self.servicenow, self.bigpanda, self.engine, self.clock = servicenow, bigpanda, engine, clock
        self.references = references or ReferenceCache(servicenow, clock.now)
        self.directory = directory or TagDirectory(bigpanda)
        self.user_name = user_name
        self.batch = batch
        self.cursor = DeltaCursor(glide(clock.now() - poll_interval))
        self.environment_of: dict[str, str] = {}  # incident id -> environment id, fed by the runner
        self._environments: list[str] | None = None
        self.actions = 0

    async def poll_once(self) -> int:
        """One pass; returns how many tickets changed by others were handled."""
        tag_fields = self.engine.tags.fields
        rows = await read_changed(self.servicenow, "incident", self.cursor, base="correlation_display=BigPanda",
                                  fields=sorted({*WATCH_FIELDS, *tag_fields}), limit=self.batch)
        names = await self._reference_names(rows)
        handled = 0
        for row in rows:
            if (row.get("sys_updated_by") != self.user_name and row.get("correlation_id")
                    and owns_ticket(self.engine.settings.namespace, row["correlation_id"], row["sys_id"])):
                ticket = TicketRef(row["sys_id"], row.get("number", ""), str(row.get("state", "")),
                                   fields={k: str(v) for k, v in row.items()})
                named = {f: names.get((f, str(row.get(f, ""))), str(row.get(f, ""))) for f in tag_fields}
                commands = self.engine.handle(TicketChanged(row["correlation_id"], ticket, named),
                                              self.clock.now())
                try:
                    for command in commands:
                        await self._carry_out(command)
                except (BigPandaError, OSError, RuntimeError) as exc:
                    log.warning("BigPanda action for %s failed; retried next pass: %s", row["correlation_id"], exc)
                    self.engine.forget_ticket_state(row["correlation_id"])  # so the retry decides afresh
                    return handled
                handled += 1
            self.cursor.advance(row)
        await self.flush_tags()
        return handled

    async def _reference_names(self, rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        """(field, sys_id) -> display name for the outbound reference fields of `rows`."""
        out: dict[tuple[str, str], str] = {}
        for field, table in self.engine.tags.outbound_references():
            ids = {str(r.get(field, "")) for r in rows if r.get("sys_updated_by") != self.user_name}
            for sys_id, name in (await self.references.names(table, ids)).items():
                out[(field, sys_id)] = name
        return out

    async def flush_tags(self) -> int:
        """Send the tag changes whose coalesce window is over; returns the calls made."""
        sent = 0
        for command in self.engine.handle(CoalesceTick(), self.clock.now()):
            try:
                await self._carry_out(command)
            except (BigPandaError, OSError, RuntimeError) as exc:
                log.warning("tags for %s not sent; tried again next pass: %s", command.incident_id, exc)
                continue
            self.engine.handle(TagsSent(command), self.clock.now())  # type: ignore[arg-type]
            sent += 1
        return sent

    async def _environments_for(self, incident_id: str) -> list[str]:
        known = self.environment_of.get(incident_id)
        if self._environments is None:
            self._environments = [e["id"] for e in await self.bigpanda.environments()]
        return ([known] if known else []) + [e for e in self._environments if e != known]

    async def _carry_out(self, command: Command) -> None:
        incident_id = command.incident_id  # type: ignore[union-attr]
        for env in await self._environments_for(incident_id):
            try:
                await self._call(env, command)
            except BigPandaError as exc:
                if exc.status_code == 404:
                    continue  # not in this environment
                if 400 <= exc.status_code < 500:  # refused for good (e.g. snoozing a resolved incident)
                    log.info("BigPanda refused %s: %s", type(command).__name__, exc)
                    return
                raise
            self.environment_of[incident_id] = env
            self.actions += 1
            return
        log.info("incident %s is in no BigPanda environment the core can see", incident_id)

    async def _call(self, env: str, command: Command) -> Any:
        bp = self.bigpanda
        if isinstance(command, ResolveIncident):
            return await bp.resolve_incident(env, command.incident_id, command.comments)
        if isinstance(command, CommentIncident):
            return await bp.comment_incident(env, command.incident_id, command.comment)
        if isinstance(command, SnoozeIncident):
            return await bp.snooze_incident(env, command.incident_id, command.end_time, command.comment,
                                            command.cancel_on_incident_updates)
        if isinstance(command, UnsnoozeIncident):
            return await bp.unsnooze_incident(env, command.incident_id)
        if isinstance(command, SetIncidentTags):
            return await self._set_tags(env, command)
        raise TypeError(f"the watch cannot carry out {command!r}")

    async def _set_tags(self, env: str, command: SetIncidentTags) -> None:
        ids: dict[str, str] = {}
        for name in command.values:
            tag_id = await self.directory.tag_id(name)
            if tag_id is None:
                raise RuntimeError(f"BigPanda has no incident tag named {name!r}: define it as a Text tag")
            ids[name] = tag_id
        values = {ids[n]: v for n, v in command.values.items() if v}
        if values:
            await self.bigpanda.set_incident_tags(env, command.incident_id, values)
        for name in (n for n, v in command.values.items() if not v):
            await self.bigpanda.remove_incident_tag(env, command.incident_id, ids[name])
