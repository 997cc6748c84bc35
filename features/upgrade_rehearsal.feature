Feature: Rehearse the upgrade from the BigPanda 2.9 app to v3, offline
  The seed says the move from 2.9.x to 3.x must be planned and cannot be rehearsed on
  production. `bpsn upgrade` rehearses it on a simulated instance: three fix scripts
  (migration, artefact clean-up, default population), each idempotent, move the 2.9 system
  properties into configuration version 1 with credentials re-encrypted, keep the transform map
  customisations, and report what moved, what was dropped and why, and what the pre-upgrade
  checklist still needs.

  Background:
    Given a ServiceNow instance running the BigPanda 2.9 app

  Scenario: The starting point: settings in global system properties, the old role, a customised map
    Then the BigPanda settings are x_bip_panda system properties in the global scope
    And the credential properties hold only basic-encrypted values
    And the service account "bigpanda.svc29" holds only the 2.9 app role, which contains itil
    And the legacy transform map "BigPanda Incident (2.9)" maps "u_bp_environment_name" to "subcategory"

  Scenario: The upgrade moves the properties into configuration version 1, and a second run changes nothing
    When the upgrade runs for organisation "demo"
    Then organisation "demo" has configuration version 1 with the 2.9 settings
    And its credentials are re-encrypted, never stored as the 2.9 values
    And no x_bip_panda system property is left in the global scope
    When the upgrade runs for organisation "demo" again
    Then the second run reports nothing changed and the instance is as the first run left it

  Scenario: The upgrade keeps the transform map customisations
    When the upgrade runs for organisation "demo"
    Then the v3 transform map "BigPanda Incident" maps "u_bp_environment_name" to "subcategory"
    And the legacy transform map "BigPanda Incident (2.9)" is kept, inactive

  Scenario: The report says what moved, what was dropped and why, and what the checklist needs
    When the upgrade runs for organisation "demo"
    Then the report says "x_bip_panda.app_key" moved to "credential incidents_app_key"
    And the report says "x_bip_panda.cmdb_export_tables" was dropped because "v2 delta sync"
    And the report says the field map "correlation_display <- u_bp_legacy_source" was dropped because "not a column of x_bip_panda_shareincident"
    And the checklist flags the platform release "Washington"
    And the checklist flags the service account lacks "itil, x_bip_panda_user"
    And the checklist asks for the BigPanda permissions "Autoshare, Incident Enrichment, Root Cause Changes, Incident Actions (All Environments), Manage Environments"

  Scenario: After the upgrade, an alert becomes a ticket with the migrated settings
    Given the upgrade has run for organisation "demo"
    And the service account "bigpanda.svc29" is given the roles "itil" and "x_bip_panda_user"
    And the core starts from the configuration of "demo" as "bigpanda.svc29" with password "bigpanda-svc29"
    When a monitoring tool sends a critical alert for host "pay-prod-29" check "CPU load"
    And the migrated core runs one cycle
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket is assigned to "BigPanda 2.9 NOC" and was created by "bigpanda.svc29"
    And the ticket's "subcategory" is the share's environment name
