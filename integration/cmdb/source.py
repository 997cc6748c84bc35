"""Reading CIs from ServiceNow: keyset pagination in sys_id order through the Table API.

Keyset (`sys_id>last^ORDERBYsys_id`) rather than offsets: a CI added or deleted while a
table is being read neither shifts nor repeats the rows of the pages that follow.
"""

from __future__ import annotations

from bpsn.integration.clients.servicenow import ServiceNowClient

from .planner import KEY_FIELD, ClassSchema


async def read_rows(servicenow: ServiceNowClient, schema: ClassSchema, after: str, *, page_size: int,
                    max_pages: int | None) -> tuple[list[dict[str, str]], bool]:
    """The rows after `after` (at most `max_pages` pages; None: all of them), reduced to the
    schema, and whether the end of the table was reached."""
    rows: list[dict[str, str]] = []
    pages = 0
    while max_pages is None or pages < max_pages:
        query = (f"{KEY_FIELD}>{after}^" if after else "") + f"ORDERBY{KEY_FIELD}"
        page = await servicenow.query(schema.table, query, fields=list(schema.columns), limit=page_size)
        pages += 1
        rows += [schema.row(record) for record in page]
        if len(page) < page_size:
            return rows, True
        after = page[-1][KEY_FIELD]
    return rows, False
