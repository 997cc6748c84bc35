Feature: Alert Configuration module: BigPanda alert records, CI bindings, and the staged shares
  The questions of BigPanda > Admin > Configuration > Alert Processing - Addon, as the v3 app
  documents them. Every alert of a shared incident becomes a record of the BigPanda alerts
  table (x_bip_panda_bp_alerts), bound to the ticket, a CMDB CI and an assignment group.
  Every share is staged in x_bip_panda_shareincident; the instance's transform map keeps the
  incident's metadata (x_bip_panda_incident_metadata) up to date. Each costs one request a
  poll, whatever the number of alerts.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow

  # --- the BigPanda alerts table ---------------------------------------------------------------
  Scenario: Every alert of a new incident becomes an alert record bound to the ticket and its CI
    Given the default Alert Configuration settings
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And a monitoring tool sends a warning alert "host=web-prod-01, check=memory"
    And the core polls BigPanda
    Then the BigPanda alerts table holds 2 records for that incident
    And the alert record of check "cpu" belongs to the ticket
    And the alert record of check "cpu" is bound to the cmdb_ci "web-prod-01"
    And the alert record of check "cpu" has "u_severity" "critical"
    And the alert record of check "memory" has "u_severity" "warning"

  Scenario: A later share updates the alert records instead of adding any
    Given the default Alert Configuration settings
    And a monitoring tool sends a critical alert "host=web-prod-02, check=disk"
    And the core polls BigPanda
    When a monitoring tool sends a ok alert "host=web-prod-02, check=disk"
    And the core polls BigPanda
    Then the BigPanda alerts table holds 1 records for that incident
    And the alert record of check "disk" has "u_status" "ok"
    And the alert record of check "disk" has an end time

  Scenario: A restarted core updates the records an earlier run wrote
    Given the default Alert Configuration settings
    And a monitoring tool sends a critical alert "host=web-prod-01, check=latency"
    And the core polls BigPanda
    When the core restarts with the same modules
    And a monitoring tool sends a warning alert "host=web-prod-01, check=latency"
    And the core polls BigPanda
    Then the BigPanda alerts table holds 1 records for that incident
    And the alert record of check "latency" has "u_status" "warning"

  Scenario: The host tag names the CI an alert binds to
    Given the Alert Configuration settings:
      | setting  | value   |
      | host_tag | ci_name |
    When a monitoring tool sends a critical alert "host=app-frontend-9, ci_name=db-prod-01, check=cpu"
    And the core polls BigPanda
    Then the alert record of check "cpu" is bound to the cmdb_ci "db-prod-01"

  Scenario: The primary property is the host when the setting says so
    Given the Alert Configuration settings:
      | setting                  | value    |
      | host_tag                 | hostname |
      | primary_property_as_host | yes      |
    When a monitoring tool sends a critical alert "device=ad-prod-01, check=ping"
    And the core polls BigPanda
    Then the alert record of check "ping" is bound to the cmdb_ci "ad-prod-01"

  Scenario: Without the primary property setting, an alert without the host tag binds to no CI
    Given the Alert Configuration settings:
      | setting  | value    |
      | host_tag | hostname |
    When a monitoring tool sends a critical alert "device=ad-prod-01, check=ping"
    And the core polls BigPanda
    Then the alert record of check "ping" has "u_cmdb_ci" ""

  Scenario Outline: A host the CMDB lacks is added once, with the configured status
    Given the Alert Configuration settings:
      | setting        | value    |
      | auto_create_ci | yes      |
      | new_ci_status  | <status> |
    And ServiceNow requests are counted from here
    When a monitoring tool sends a critical alert "host=db-new-01, check=disk"
    And the core polls BigPanda
    And a monitoring tool sends a critical alert "host=db-new-01, check=cpu"
    And the core polls BigPanda
    Then ServiceNow has 1 cmdb_ci named "db-new-01", with install status "<label>"
    And the alert record of check "disk" is bound to the cmdb_ci "db-new-01"
    And the alert record of check "cpu" is bound to the cmdb_ci "db-new-01"
    And the core looked up the cmdb_ci table 1 time

    Examples:
      | status | label          |
      | 4      | Pending Install |
      | 6      | In Stock       |

  Scenario: Without auto-create, a host the CMDB lacks is not added and the alert stays unbound
    Given the default Alert Configuration settings
    When a monitoring tool sends a critical alert "host=db-new-02, check=disk"
    And the core polls BigPanda
    Then ServiceNow has 0 cmdb_ci named "db-new-02"
    And the alert record of check "disk" has "u_cmdb_ci" ""

  Scenario: The assignment group comes from an alert tag
    Given the Alert Configuration settings:
      | setting              | value |
      | assignment_group_tag | team  |
    When a monitoring tool sends a critical alert "host=db-prod-01, check=replication, team=Database Administration"
    And a monitoring tool sends a critical alert "host=db-prod-01, check=backup, team=No Such Team"
    And the core polls BigPanda
    Then the alert record of check "replication" is assigned to the sys_user_group "Database Administration"
    And the alert record of check "backup" has "u_assignment_group" ""

  Scenario: Priority comes from a custom tag only when one is mapped
    Given the Alert Configuration settings:
      | setting      | value |
      | priority_tag | prio  |
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu, prio=P2"
    And the core polls BigPanda
    Then the alert record of check "cpu" has "u_priority" "P2"

  Scenario: No priority mapping leaves the alert record's priority empty
    Given the default Alert Configuration settings
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu, prio=P2"
    And the core polls BigPanda
    Then the alert record of check "cpu" has "u_priority" ""

  Scenario: Severity comes from a tag when its value is an allowed one, else from the alert status
    Given the Alert Configuration settings:
      | setting         | value                 |
      | severity_tag    | sev                   |
      | severity_values | critical, major, minor |
    When a monitoring tool sends a warning alert "host=web-prod-01, check=cpu, sev=Major"
    And a monitoring tool sends a warning alert "host=web-prod-01, check=disk, sev=apocalyptic"
    And the core polls BigPanda
    Then the alert record of check "cpu" has "u_severity" "major"
    And the alert record of check "disk" has "u_severity" "warning"

  Scenario: Alert processing off: no alert records and no CIs, whatever else is on
    Given the Alert Configuration settings:
      | setting        | value |
      | processing     | no    |
      | auto_create_ci | yes   |
    When a monitoring tool sends a critical alert "host=db-new-03, check=disk"
    And the core polls BigPanda
    Then the BigPanda alerts table holds 0 records for that incident
    And ServiceNow has 0 cmdb_ci named "db-new-03"
    And ServiceNow has 1 incident for that BigPanda incident

  Scenario: Without the BP alerts add-on no alert records are written
    Given the Alert Configuration settings:
      | setting      | value |
      | alerts_table | no    |
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And the core polls BigPanda
    Then the BigPanda alerts table holds 0 records for that incident

  Scenario Outline: Logging for alert processing is there only when it is turned on
    Given the Alert Configuration settings:
      | setting | value     |
      | logging | <logging> |
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And the core polls BigPanda
    Then the alert processing log has <lines> lines about the alert of check "cpu"

    Examples:
      | logging | lines |
      | yes     | 1     |
      | no      | 0     |

  Scenario: A setting that cannot work is refused by name
    Then the Alert Configuration settings are refused, naming the setting:
      | setting                  | value   | named         |
      | new_ci_status            | pending | new_ci_status |
      | logging                  | maybe   | logging       |
      | colour                   | blue    | colour        |

  Scenario: The BigPanda view link opens the ticket's metadata record
    Given the Alert Configuration settings:
      | setting            | value |
      | bigpanda_view_link | yes   |
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And the core polls BigPanda
    Then the BigPanda view link of the ticket opens its incident metadata record

  # --- staging and metadata ---------------------------------------------------------------------
  Scenario: Every share is staged, and the transform keeps the incident's metadata
    Given the default Alert Configuration settings
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And the core polls BigPanda
    Then the staging table holds 1 row for that incident, transformed, carrying the share and the ticket
    And the incident metadata belongs to the ticket
    And the incident metadata links the BigPanda incident and its timeline
    And the incident metadata field "u_bp_status" is "critical"
    And the incident metadata field "u_snoozed" is "false"
    And the incident metadata names the last share

  Scenario: The metadata follows the incident: one record, updated by each share
    Given the default Alert Configuration settings
    And a monitoring tool sends a critical alert "host=web-prod-02, check=cpu"
    And the core polls BigPanda
    When a BigPanda user snoozes the incident for 3600 seconds, cancelled by updates
    And the core polls BigPanda
    Then the staging table holds 2 rows for that incident
    And the incident metadata field "u_snoozed" is "true"
    And the incident metadata names the last share

  Scenario: A UI action button that is off has no target
    Given the Incidents setting "Show UI Action Button to Incident Timeline in BP" is off
    And the default Alert Configuration settings
    When a monitoring tool sends a critical alert "host=web-prod-01, check=cpu"
    And the core polls BigPanda
    Then the incident metadata field "u_bp_timeline_url" is ""
    And the incident metadata links the BigPanda incident

  Scenario: The AIA summary reaches the incident metadata (the AIA tab)
    Given BigPanda defines the Text incident tags "ai_summary"
    And the default Alert Configuration settings
    And a monitoring tool sends a critical alert "host=db-prod-01, check=replication"
    When a BigPanda user sets the incident tag "ai_summary" to "Replication lag after the 02:00 backup"
    And the core polls BigPanda
    Then the incident metadata field "u_aia_summary" is "Replication lag after the 02:00 backup"

  # --- requests --------------------------------------------------------------------------------
  Scenario: Staging and the companions' records cost one request each per poll, not one per alert
    Given the Alert Configuration settings:
      | setting              | value |
      | auto_create_ci       | yes   |
      | assignment_group_tag | team  |
    And ServiceNow requests are counted from here
    When 3 hosts each send 2 critical alerts for team "Network Operations"
    And the core polls BigPanda
    Then that poll staged 3 shares with 1 Import Set request
    And that poll wrote 6 alert records and 3 CIs in 1 Batch API request
    And that poll sent 1 Batch API request in all, with the correlation companion's rows in it
    And that poll looked up the cmdb_ci table 1 time and the sys_user_group table 1 time
    And no alert record was written outside a batch
    When ServiceNow requests are counted from here
    And 3 hosts each send 2 warning alerts for team "Network Operations"
    And the core polls BigPanda
    Then that poll staged 3 shares with 1 Import Set request
    And that poll wrote 6 alert records and 0 CIs in 1 Batch API request
    And that poll sent 1 Batch API request in all, with the correlation companion's rows in it
    And that poll looked up the cmdb_ci table 0 times and the sys_user_group table 0 times
    And the BigPanda alerts table holds 12 records in all
