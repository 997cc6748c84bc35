"""Where a data subject may appear in the x_bip_panda tables, and what erasing does there.

One declaration per table: the columns searched for the subject's email, name and user
name, and the erase action for a record that holds them:

- `delete`: the record goes (staging rows whose content already lives on in the incident);
- `pseudonymise`: each occurrence of the subject in the columns becomes their keyed
  pseudonym (the record stays, its history stays linked, the person is gone);
- `blank`: the matching columns are emptied;
- `keep`: found and exported, never changed, for the reason given.

`retained` columns of a table are searched and exported but left by erase. The platform's
own `sys_created_by` / `sys_updated_by` are searched too (they hold the acting user name)
but only a delete removes them: the Table API cannot rewrite them.

A table the instance has but this list does not declare is reported as not searched, so a
new table cannot hide a person: declare it here. This list is also the fallback list of
tables when the instance does not let the caller list its tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PREFIX = "x_bip_panda_"
AUDIT_TABLE = "x_bip_panda_privacy_audit"
AUDIT_COLUMNS = ("sys_created_by", "sys_updated_by")
EraseAction = Literal["delete", "pseudonymise", "blank", "keep"]


@dataclass(frozen=True)
class TablePrivacy:
    table: str
    columns: tuple[str, ...]
    erase: EraseAction
    why: str
    retained: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.table.startswith(PREFIX):
            raise ValueError(f"{self.table}: only {PREFIX}* tables are declared here")
        stray = set(self.retained) - set(self.columns)
        if stray:
            raise ValueError(f"{self.table}: retained columns {sorted(stray)} are not among its columns")

    @property
    def erasable(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.retained)


DECLARED: dict[str, TablePrivacy] = {t.table: t for t in (
    TablePrivacy("x_bip_panda_config", ("integration_user", "change_note"), "pseudonymise",
                 "versioned configuration: change notes are pseudonymised in every version; integration_user "
                 "is the core's service account and the current version needs it (change it with "
                 "`bpsn config set integration_user`)", retained=("integration_user",)),
    TablePrivacy("x_bip_panda_shareincident", ("u_bp_sharer_email", "u_bp_incident_json", "u_ci_lookup"), "delete",
                 "staging rows: the transform has already written their content to the incident"),
    TablePrivacy("x_bip_panda_bp_alerts", ("u_primary_property", "u_secondary_property", "u_description",
                                           "u_tags"), "pseudonymise",
                 "alert history stays with the incident; only the person's identifiers are replaced"),
    TablePrivacy("x_bip_panda_incident_metadata", ("u_aia_summary", "u_external_urls", "u_runbook_url"),
                 "pseudonymise", "the BigPanda link of a ticket stays; only the person's identifiers are replaced"),
    TablePrivacy("x_bip_panda_correlation", ("u_source", "u_target"), "pseudonymise",
                 "the relationship stays; a person used as its source or target becomes their pseudonym"),
    TablePrivacy("x_bip_panda_similar_incident", ("u_reasoning",), "pseudonymise",
                 "the similarity stays; its reasoning loses the person's identifiers"),
    TablePrivacy("x_bip_panda_related_change", ("u_change_identifier", "u_comment"), "pseudonymise",
                 "the change link stays; its comment loses the person's identifiers"),
    TablePrivacy("x_bip_panda_external_ticket", (), "keep", "ticket systems, numbers and URLs only"),
    TablePrivacy("x_bip_panda_transform_rule", ("name", "description", "conditions", "actions"), "pseudonymise",
                 "rules are configuration: name and description are pseudonymised; conditions and actions are "
                 "kept, as changing them would change how tickets are routed (an administrator edits them)",
                 retained=("conditions", "actions")),
    TablePrivacy("x_bip_panda_cmdb_sync", (), "keep",
                 "CMDB sync state: map names, cursors and hashes of CI records, nothing about a person"),
    TablePrivacy(AUDIT_TABLE, (), "keep", "the erase audit: it holds the keyed subject hash, never the email"),
)}
