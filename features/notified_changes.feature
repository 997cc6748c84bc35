Feature: ServiceNow notifies the core of ticket changes
  On a real instance the BigPanda app's business rules see a ticket change as it happens, and
  the five-second coalesce window is the only wait before BigPanda hears of it. Here an
  outbound message (the u_bpsn_outbound_message record, seeded inactive) posts a small notice
  to the core's notification endpoint after every incident write. The core runs its delta
  watch at once: a resolve or a hold leaves now, a tag change leaves when its coalesce window
  is over, without waiting for the next poll. The delta watch of every cycle stays: a notice
  that never arrives is caught at the next cycle.

  Background:
    Given BigPanda defines the Text incident tags "component", "customer", "problem" and "team"
    And the core maps incident tags to ServiceNow fields:
      | tag       | field       | direction |
      | component | subcategory | both      |
    And a critical alert for host "web-prod-01" check "cpu" has become a ticket
    And ServiceNow notifies the core of incident changes

  Scenario: An analyst sets a mapped field; the tag reaches BigPanda after the coalesce window, without a poll
    When an analyst sets the ticket field "subcategory" to "postgres"
    And ServiceNow's notifications reach the core
    Then the BigPanda incident has no tag "component"
    When 5 seconds pass
    Then the BigPanda incident tag "component" is "postgres"
    And the core has not polled BigPanda since notifications were turned on
    And ServiceNow logged 1 notification "delivered"

  Scenario: Rapid edits in ServiceNow leave in one tags call with the last value
    When an analyst sets the ticket field "subcategory" to "redis"
    And 2 seconds pass
    And an analyst sets the ticket field "subcategory" to "varnish"
    And 2 seconds pass
    Then the BigPanda incident has no tag "component"
    When 1 seconds pass
    Then the BigPanda incident tag "component" is "varnish"
    And since the change the core wrote 0 times to ServiceNow and 1 time to BigPanda's tags
    And the core has not polled BigPanda since notifications were turned on

  Scenario: An analyst resolves the ticket; BigPanda resolves the incident at once
    When an analyst resolves the ticket in ServiceNow with code "Workaround provided" and notes "Flushed the cache"
    And ServiceNow's notifications reach the core
    Then BigPanda shows the incident resolved
    And BigPanda has a comment on the incident containing "Workaround provided"
    And the core has not polled BigPanda since notifications were turned on

  Scenario: An analyst puts the ticket on hold; BigPanda snoozes the incident at once
    When an analyst puts the ticket On Hold in ServiceNow awaiting "Awaiting Vendor"
    And ServiceNow's notifications reach the core
    Then BigPanda shows the incident snoozed
    And the core has not polled BigPanda since notifications were turned on

  Scenario: The core refuses a notice with the wrong credentials; its next cycle's watch still delivers
    Given ServiceNow notifies the core with the wrong credentials
    When an analyst sets the ticket field "subcategory" to "postgres"
    And 5 seconds pass
    Then the BigPanda incident has no tag "component"
    And ServiceNow logged 1 notification "given up" with status 401
    When the core runs a cycle
    And 5 seconds pass
    And the core runs a cycle
    Then the BigPanda incident tag "component" is "postgres"

  Scenario: The core's own ticket writes wake no watch
    When a BigPanda user sets the incident tag "component" to "nginx"
    And the core polls BigPanda
    And ServiceNow's notifications reach the core
    Then the ticket field "subcategory" is "nginx"
    And ServiceNow logged 1 notification "delivered"
    And the notice woke no read of the tickets
