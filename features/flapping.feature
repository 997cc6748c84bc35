Feature: A flapping incident does not resolve its ticket until it calms down
  With "Flapping - Block Resolve" on (the default), a BigPanda incident that resolves while
  it is flapping leaves its ServiceNow ticket open with a work note; the ticket is resolved
  once BigPanda sees no more flaps for the flapping window (30 minutes) and the incident is
  still resolved. With the setting off, the ticket resolves as usual.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: The resolve is blocked while the incident flaps
    Given a critical alert for host "lb-prod-01" check "Health" has become a ticket
    When the alert for host "lb-prod-01" check "Health" flaps: ok, critical, ok, critical, ok
    And the core polls BigPanda
    Then BigPanda marks the incident as flapping
    And the ticket is in state "1"
    And the ticket has a work note containing "the resolve is blocked until it stops flapping"

  Scenario: Once the flapping stops, the ticket is resolved
    Given a critical alert for host "lb-prod-02" check "Health" has become a ticket
    When the alert for host "lb-prod-02" check "Health" flaps: ok, critical, ok, critical, ok
    And the core polls BigPanda
    And 1801 seconds pass
    And the core polls BigPanda
    Then the ticket is in state "6" with resolution code "Solution provided"

  Scenario: With "Flapping - Block Resolve" off, a flapping incident resolves its ticket
    Given the setting "Flapping - Block Resolve" is off
    And a critical alert for host "lb-prod-03" check "Health" has become a ticket
    When the alert for host "lb-prod-03" check "Health" flaps: ok, critical, ok, critical, ok
    And the core polls BigPanda
    Then BigPanda marks the incident as flapping
    And the ticket is in state "6" with resolution code "Solution provided"
