Feature: Tickets land in the staging table, and the transform map writes them
  As the v3 app does, the core writes each poll's tickets as rows of the staging table
  x_bip_panda_shareincident through the Import Set API (one insertMultiple per poll). The
  instance's transform map "BigPanda Incident" creates or updates the incident, with business
  rules, the data policy and audit, and the row keeps what happened (sys_import_state, the
  target sys_id). Transform maps are records (sys_transform_map, sys_transform_entry) an admin
  changes through the Table API; the next ticket follows them, as a customised map does
  through an upgrade.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: A share lands in the staging table and its row shows the ticket it wrote
    When a monitoring tool sends a critical alert for host "web-prod-01" check "CPU load"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the share's staging row shows "inserted" and the ticket's sys_id
    And BigPanda shows the ServiceNow incident number on the incident

  Scenario: A later share of the same incident lands as a row that updated the ticket
    Given a critical alert for host "db-prod-01" check "Replication lag" has become a ticket
    When a monitoring tool sends a warning alert for host "db-prod-01" check "Disk space"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the share's staging row shows "updated" and the ticket's sys_id
    And the ticket description counts "1 Critical, 1 Warning"

  Scenario: An admin adds a field map, and the next ticket shows it
    Given an admin adds to the transform map "BigPanda Incident" a field map from "u_bp_environment_name" to "subcategory"
    When a monitoring tool sends a critical alert for host "web-prod-02" check "HTTP 5xx"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket's "subcategory" is the share's environment name

  Scenario: An admin coalesces on the correlation id: an incident back after the window keeps its one ticket
    Given a critical alert for host "pay-prod-01" check "Errors" has become a ticket
    And an admin makes the transform map "BigPanda Incident" coalesce on "correlation_id" instead of "sys_id"
    When a monitoring tool sends an ok alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    And 1801 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the share's staging row shows "updated" and the ticket's sys_id
