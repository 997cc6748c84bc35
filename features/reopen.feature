Feature: A BigPanda incident that comes back reopens its ticket, or opens a linked one
  With "Re-open Resolved" on (the default), an incident that is active again within the
  Re-open Window (30 minutes from the ticket's resolved time; exactly 30 minutes is still
  inside) reopens its resolved ticket. Later, with reopening off, or when the ticket is
  Closed, a new ticket is opened whose parent incident is the previous ticket, and BigPanda
  shows the new ticket's number.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems
    And a critical alert for host "pay-prod-01" check "Errors" has become a ticket
    When a monitoring tool sends an ok alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then the ticket is in state "6" with resolution code "Solution provided"

  Scenario: Back within the window: the ticket is reopened
    When 600 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket is in state "2"
    And the ticket has a work note containing "ticket reopened"

  Scenario: Back exactly at the edge of the window: still reopened
    When 1800 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket is in state "2"

  Scenario: Back after the window: a new ticket follows the resolved one
    When 1801 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 2 incidents for that BigPanda incident
    And the new ticket follows the previous one
    And the previous ticket stays in state "6"
    And the ticket has a work note containing "which is not reopened"

  Scenario: With "Re-open Resolved" off: a new ticket even inside the window
    Given the setting "Re-open Resolved" is off
    When 60 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 2 incidents for that BigPanda incident
    And the new ticket follows the previous one

  Scenario: A Closed ticket is never reopened
    When an analyst closes the ticket in ServiceNow
    And 60 seconds pass
    And a monitoring tool sends a critical alert for host "pay-prod-01" check "Errors"
    And the core polls BigPanda
    Then ServiceNow has 2 incidents for that BigPanda incident
    And the new ticket follows the previous one
    And the previous ticket stays in state "7"
