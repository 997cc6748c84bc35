"""Help for groups: each sub-command's first sentence in full, wrapped, never cut short with "..."."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

WHOLE_SENTENCE = 10_000  # click shortens summaries to the terminal width; wrapping keeps all of it readable


class FullSummaries(TyperGroup):
    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, cmd.get_short_help_str(WHOLE_SENTENCE)) for name in self.list_commands(ctx)
                if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
