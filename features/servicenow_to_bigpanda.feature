Feature: A ticket resolved in ServiceNow resolves the BigPanda incident
  With "Resolve BigPanda Incident" and "Send Closure Code" on (the defaults), the core's
  ServiceNow watch sees a ticket an analyst resolved, resolves the BigPanda incident and
  posts the resolution code and notes as a BigPanda comment. Changes the core itself made
  are never sent back.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: An analyst resolves the ticket; BigPanda resolves the incident with the closure code
    Given a critical alert for host "dns-prod-01" check "Resolution" has become a ticket
    When an analyst resolves the ticket in ServiceNow with code "Workaround provided" and notes "Flushed the cache"
    And the core watches ServiceNow for changes
    Then BigPanda shows the incident resolved
    And BigPanda has a comment on the incident containing "Workaround provided"
    When the core polls BigPanda
    Then the ticket is in state "6" with resolution code "Workaround provided"

  Scenario: With "Resolve BigPanda Incident" off, the incident stays active
    Given the setting "Resolve BigPanda Incident" is off
    And a critical alert for host "dns-prod-02" check "Resolution" has become a ticket
    When an analyst resolves the ticket in ServiceNow with code "Workaround provided" and notes "Flushed the cache"
    And the core watches ServiceNow for changes
    Then BigPanda has a comment on the incident containing "Flushed the cache"

