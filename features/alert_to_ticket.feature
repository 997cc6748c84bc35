@foundation
Feature: An alert becomes exactly one ServiceNow incident
  The integration core polls BigPanda for shared incidents, opens one ServiceNow incident
  for each, and tells BigPanda the ticket number. However often a share arrives, and
  whatever fails in between, each BigPanda incident has exactly one ticket.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: A critical alert opens one ServiceNow incident and BigPanda shows its number
    When a monitoring tool sends a critical alert for host "web-prod-01" check "CPU load"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And its short description is "BigPanda Incident: web-prod-01 - critical"
    And its correlation id is the BigPanda incident id
    And BigPanda shows the ServiceNow incident number on the incident

  Scenario: More alerts on the same host update the same ticket
    Given a critical alert for host "db-prod-01" check "Replication lag" has become a ticket
    When a monitoring tool sends a warning alert for host "db-prod-01" check "Disk space"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket description counts "1 Critical, 1 Warning"

  Scenario: A share delivered twice never makes a second ticket
    Given a critical alert for host "api-prod-03" check "Latency p95" has become a ticket
    When BigPanda delivers the same share again
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident

  Scenario: The core crashes after creating the ticket, before the callback
    Given the callback to BigPanda will fail once
    When a monitoring tool sends a critical alert for host "cache-prod-02" check "Memory"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And BigPanda does not show a ticket on the incident yet
    When the core restarts
    And 121 seconds pass
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And BigPanda shows the ServiceNow incident number on the incident

  Scenario: When every alert resolves, the ticket is resolved with a resolution code
    Given a critical alert for host "queue-prod-01" check "Ping" has become a ticket
    When a monitoring tool sends an ok alert for host "queue-prod-01" check "Ping"
    And the core polls BigPanda
    Then the ticket is in state "6" with resolution code "Solution provided"
    And ServiceNow has 1 incident for that BigPanda incident
