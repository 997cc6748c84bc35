"""Where the runner calls the rules: between the engine's ticket write and carrying it out.

    outcome = rules_for_command(rules, share["incident"], command)
    command = command_after_rules(command, outcome)   # None: a rule skips the record
    # then set outcome.tags on the BigPanda incident (V2 tags API)

Call it for the CreateTicket / UpdateTicket the engine returns for a ShareReceived, not for the
link note it writes to a superseded ticket after a TicketWritten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from bpsn.integration.engine.messages import CreateTicket, UpdateTicket

from .evaluator import RulesOutcome, evaluate
from .model import Rule

TicketCommand = CreateTicket | UpdateTicket
NOTE_SEPARATOR = "\n\n"


def rules_for_command(rules: Iterable[Rule], share_incident: Mapping[str, Any], command: TicketCommand, *,
                      dry_run: bool = False) -> RulesOutcome:
    """The rules on the fields the engine is about to write; an update also sees the ticket as it is."""
    if isinstance(command, CreateTicket):
        return evaluate(rules, share_incident, command.fields, dry_run=dry_run, is_new=True)
    return evaluate(rules, share_incident, command.fields, dry_run=dry_run, is_new=False,
                    current=command.ticket.fields)


def command_after_rules(command: TicketCommand, outcome: RulesOutcome) -> TicketCommand | None:
    """The command with the rules' fields and work notes (after the engine's own note); None to skip."""
    if outcome.skip:
        return None
    fields = dict(outcome.fields)
    if outcome.work_notes:
        notes = [fields["work_notes"]] if fields.get("work_notes") else []
        fields["work_notes"] = NOTE_SEPARATOR.join([*notes, *outcome.work_notes])
    if fields == command.fields:
        return command
    return dataclasses.replace(command, fields=fields)
