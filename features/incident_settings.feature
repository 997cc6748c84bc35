Feature: Incidents module settings shape every new and updated ticket
  The settings of BigPanda > Admin > Configuration > Incidents, as the v3 app documents them.
  Names and emails in the settings are looked up in ServiceNow once and cached, so a storm
  of new incidents does not cost a lookup each.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow

  Scenario: Assignment group, caller and opener come from the settings
    Given the Incidents settings:
      | setting          | value                         |
      | assignment_group | Network Operations            |
      | caller_email     | noc.analyst@example.com       |
      | opened_by_email  | bigpanda.integration@example.com |
    When a monitoring tool sends a critical alert for host "web-prod-01" check "cpu"
    And the core polls BigPanda
    Then the ticket's "assignment_group" is the sys_user_group "Network Operations"
    And the ticket's "caller_id" is the user with email "noc.analyst@example.com"
    And the ticket's "opened_by" is the user with email "bigpanda.integration@example.com"

  Scenario: A setting naming a record ServiceNow does not have leaves the field empty
    Given the Incidents settings:
      | setting          | value            |
      | assignment_group | No Such Group    |
      | caller_email     | nobody@example.com |
    When a monitoring tool sends a critical alert for host "web-prod-01" check "cpu"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket field "assignment_group" is ""
    And the ticket field "caller_id" is ""

  Scenario: The CMDB CI comes from the primary alert's host tag
    Given the Incidents settings:
      | setting     | value |
      | cmdb_ci_tag | host  |
    When a monitoring tool sends a critical alert for host "db-prod-01" check "replication"
    And the core polls BigPanda
    Then the ticket's "cmdb_ci" is the cmdb_ci "db-prod-01"

  Scenario: Primary alert criteria choose the alert the short description names
    Given the Incidents settings:
      | setting                | value        |
      | primary_alert_criteria | check=memory |
    When a monitoring tool sends a critical alert for host "app-01" check "cpu"
    And a monitoring tool sends a warning alert for host "app-01" check "memory"
    And the core polls BigPanda
    Then the ticket field "short_description" is "BigPanda Incident: app-01 - warning"

  Scenario: Priority, incident tags and alert tags in the ticket
    Given BigPanda defines the Text incident tags "priority" and "team"
    And the Incidents settings:
      | setting                       | value          |
      | priority_in_short_description | true           |
      | description_incident_tags     | team, priority |
      | description_alert_tags        | check          |
    When a monitoring tool sends a critical alert for host "app-02" check "latency"
    And a BigPanda user sets the incident tag "priority" to "P1"
    And a BigPanda user sets the incident tag "team" to "payments"
    And the core polls BigPanda
    Then the ticket field "short_description" is "[P1] BigPanda Incident: app-02 - critical"
    And the ticket description contains the line "team: payments"
    And the ticket description contains the line "priority: P1"
    And the ticket description contains the line "    check: latency"

  Scenario: At most the configured number of alerts, and no links when they are off
    Given the Incidents settings:
      | setting                   | value |
      | max_alerts_in_description | 2     |
      | links_in_description      | false |
    When a monitoring tool sends a critical alert for host "app-03" check "a"
    And a monitoring tool sends a critical alert for host "app-03" check "b"
    And a monitoring tool sends a critical alert for host "app-03" check "c"
    And the core polls BigPanda
    Then the ticket description contains the line "... and 1 more alerts"
    And the ticket description does not contain "BigPanda incident: http"

  Scenario: The description is also added as a work note
    Given the Incidents settings:
      | setting                   | value |
      | description_to_work_notes | true  |
    When a monitoring tool sends a critical alert for host "app-04" check "disk"
    And the core polls BigPanda
    Then the ticket has a work note containing "1 Critical, 0 Warning"

  Scenario: Only the Update Fields change when the BigPanda incident changes
    Given the Incidents settings:
      | setting       | value       |
      | update_fields | description |
    And a critical alert for host "app-05" check "disk" has become a ticket
    When a monitoring tool sends a warning alert for host "app-05" check "swap"
    And the core polls BigPanda
    Then the ticket description contains the line "[WARNING] app-05 / swap"
    And the ticket field "short_description" is "BigPanda Incident: app-05 - critical"

  Scenario: The resolver named in the settings resolves the ticket
    Given the Incidents settings:
      | setting           | value                   |
      | resolved_by_email | noc.analyst@example.com |
    And a critical alert for host "app-06" check "disk" has become a ticket
    When a monitoring tool sends a ok alert for host "app-06" check "disk"
    And the core polls BigPanda
    Then the ticket is in state "6"
    And the ticket's "resolved_by" is the user with email "noc.analyst@example.com"

  Scenario: Lookups are cached across incidents
    Given the Incidents settings:
      | setting          | value                   |
      | assignment_group | Network Operations      |
      | caller_email     | noc.analyst@example.com |
    And a critical alert for host "app-07" check "disk" has become a ticket
    When a monitoring tool sends a critical alert for host "app-08" check "disk"
    And the core polls BigPanda
    Then ServiceNow has 2 incidents from BigPanda
    And the core looked up the "sys_user_group" table once and the "sys_user" table once in all

  Scenario: With the Incidents module off nothing is written, and the shares wait for it
    Given the Incidents settings:
      | setting | value |
      | active  | false |
    When a monitoring tool sends a critical alert for host "app-09" check "disk"
    And the core polls BigPanda
    Then ServiceNow has 0 incidents for that BigPanda incident
    When the Incidents settings:
      | setting | value |
      | active  | true  |
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident

  Scenario: The AIA summary heads the description
    Given BigPanda defines the Text incident tags "ai_summary"
    And the Incidents settings:
      | setting            | value |
      | aia_in_description | true  |
    When a monitoring tool sends a critical alert for host "app-10" check "disk"
    And a BigPanda user sets the incident tag "ai_summary" to "Disk filled by a runaway log."
    And the core polls BigPanda
    Then the ticket description contains the line "AI summary:"
    And the ticket description contains the line "Disk filled by a runaway log."
    And the ticket description contains the line "1 Critical, 0 Warning, 0 Unknown, 0 Resolved"

  Scenario: The AIA summary replaces the alert summary when the alert module says so
    Given BigPanda defines the Text incident tags "ai_summary"
    And the Alert Configuration answers "Enable AIA descriptions and remove the alert summary?" with "Yes"
    When a monitoring tool sends a critical alert for host "app-11" check "disk"
    And a BigPanda user sets the incident tag "ai_summary" to "Disk filled by a runaway log."
    And the core polls BigPanda
    Then the ticket description contains the line "Disk filled by a runaway log."
    And the ticket description does not contain "1 Critical"
