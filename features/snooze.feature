Feature: Snoozing in BigPanda and On Hold in ServiceNow follow each other
  A snoozed BigPanda incident puts its ticket On Hold (reason "Awaiting Vendor") with a
  work note naming the snooze end; when the snooze ends - cancelled by an update, woken
  at its end time, or removed - the ticket goes back to In Progress. An analyst putting
  the ticket On Hold snoozes the BigPanda incident for 24 hours; taking it off hold
  unsnoozes it.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: A snooze in BigPanda puts the ticket On Hold
    Given a critical alert for host "mq-prod-01" check "Queue depth" has become a ticket
    When a BigPanda user snoozes the incident for 3600 seconds, cancelled by updates
    And the core polls BigPanda
    Then the ticket is On Hold awaiting "Awaiting Vendor"
    And the ticket has a work note containing "is snoozed until"

  Scenario: A new alert cancels the snooze and the ticket is worked on again
    Given a critical alert for host "mq-prod-02" check "Queue depth" has become a ticket
    When a BigPanda user snoozes the incident for 3600 seconds, cancelled by updates
    And the core polls BigPanda
    And a monitoring tool sends a warning alert for host "mq-prod-02" check "Consumers"
    And the core polls BigPanda
    Then BigPanda shows the incident not snoozed
    And the ticket is in state "2"
    And the ticket has a work note containing "no longer snoozed"

  Scenario: A severity increase cancels the snooze
    Given a warning alert for host "mq-prod-03" check "Queue depth" has become a ticket
    When a BigPanda user snoozes the incident for 3600 seconds, cancelled by updates
    And the core polls BigPanda
    And a monitoring tool sends a critical alert for host "mq-prod-03" check "Queue depth"
    And the core polls BigPanda
    Then BigPanda shows the incident not snoozed
    And the ticket is in state "2"

  Scenario: The snooze ends at its end time
    Given a critical alert for host "mq-prod-04" check "Queue depth" has become a ticket
    When a BigPanda user snoozes the incident for 600 seconds, cancelled by updates
    And the core polls BigPanda
    And 601 seconds pass
    And the core polls BigPanda
    Then the ticket is in state "2"

  Scenario: On Hold in ServiceNow snoozes the BigPanda incident, and off hold unsnoozes it
    Given a critical alert for host "mq-prod-05" check "Queue depth" has become a ticket
    When an analyst puts the ticket On Hold in ServiceNow awaiting "Awaiting Change"
    And the core watches ServiceNow for changes
    Then BigPanda shows the incident snoozed
    When the core polls BigPanda
    Then the ticket is On Hold awaiting "Awaiting Change"
    When an analyst takes the ticket off hold in ServiceNow
    And the core watches ServiceNow for changes
    Then BigPanda shows the incident not snoozed
