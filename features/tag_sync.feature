Feature: Tag synchronisation between BigPanda incident tags and ServiceNow incident fields
  Each mapped tag has a direction: both ways, to BigPanda only, or to ServiceNow only.
  ServiceNow changes are found by the core's delta watch and leave after a five-second
  coalesce window, so rapid edits make one BigPanda call. Value comparisons stop echo loops:
  after a change crosses once, nothing bounces back.

  Background:
    Given BigPanda defines the Text incident tags "component", "customer", "problem" and "team"
    And the core maps incident tags to ServiceNow fields:
      | tag       | field            | direction     |
      | component | subcategory      | both          |
      | customer  | company          | to_servicenow |
      | problem   | problem_id       | to_bigpanda   |
      | team      | assignment_group | both          |
    And a critical alert for host "web-prod-01" check "cpu" has become a ticket

  Scenario: A tag set in BigPanda reaches ServiceNow once
    When a BigPanda user sets the incident tag "component" to "nginx"
    And the core polls BigPanda
    Then the ticket field "subcategory" is "nginx"
    And since the change the core wrote 1 time to ServiceNow and 0 times to BigPanda's tags
    And for ten coalesce windows neither side is written again

  Scenario: A field edited in ServiceNow reaches BigPanda once, after the coalesce window
    When an analyst sets the ticket field "subcategory" to "postgres"
    And the core watches ServiceNow for changes
    Then the BigPanda incident has no tag "component"
    When 5 seconds pass
    And the core watches ServiceNow for changes
    Then the BigPanda incident tag "component" is "postgres"
    When the core polls BigPanda
    Then since the change the core wrote 0 times to ServiceNow and 1 time to BigPanda's tags
    And for ten coalesce windows neither side is written again

  Scenario: Rapid edits in ServiceNow leave in one call with the last value
    When an analyst sets the ticket field "subcategory" to "redis"
    And the core watches ServiceNow for changes
    And 2 seconds pass
    And an analyst sets the ticket field "subcategory" to "memcached"
    And the core watches ServiceNow for changes
    And 2 seconds pass
    And an analyst sets the ticket field "subcategory" to "varnish"
    And the core watches ServiceNow for changes
    Then the BigPanda incident has no tag "component"
    When 1 seconds pass
    And the core watches ServiceNow for changes
    And the core polls BigPanda
    Then the BigPanda incident tag "component" is "varnish"
    And since the change the core wrote 0 times to ServiceNow and 1 time to BigPanda's tags
    And for ten coalesce windows neither side is written again

  Scenario: Both sides change a bidirectional tag, one after the other
    When a BigPanda user sets the incident tag "component" to "nginx"
    And the core polls BigPanda
    And an analyst sets the ticket field "subcategory" to "haproxy"
    And 5 seconds pass
    And the core watches ServiceNow for changes
    And the core polls BigPanda
    Then the BigPanda incident tag "component" is "haproxy"
    And the ticket field "subcategory" is "haproxy"
    And since the change the core wrote 1 time to ServiceNow and 1 time to BigPanda's tags
    And for ten coalesce windows neither side is written again

  Scenario: A share rendered before a ServiceNow edit reached BigPanda does not undo the edit
    When a BigPanda user sets the incident tag "component" to "nginx"
    And the core polls BigPanda
    And an analyst sets the ticket field "subcategory" to "envoy"
    And the core watches ServiceNow for changes
    And a monitoring tool sends a warning alert for host "web-prod-01" check "disk"
    And the core polls BigPanda
    Then the ticket field "subcategory" is "envoy"
    When 5 seconds pass
    And the core watches ServiceNow for changes
    Then the BigPanda incident tag "component" is "envoy"

  Scenario: A reference field travels as a name and lands as a sys_id
    When a BigPanda user sets the incident tag "team" to "Network Operations"
    And the core polls BigPanda
    Then the ticket's assignment group is "Network Operations"
    When an analyst assigns the ticket to the group "Database Administration"
    And 5 seconds pass
    And the core watches ServiceNow for changes
    Then the BigPanda incident tag "team" is "Database Administration"
    When the core polls BigPanda
    Then the ticket's assignment group is "Database Administration"
    And since the change the core wrote 1 time to ServiceNow and 1 time to BigPanda's tags
    And for ten coalesce windows neither side is written again

  Scenario: A team name ServiceNow does not know leaves the field alone
    When a BigPanda user sets the incident tag "team" to "No Such Team"
    And the core polls BigPanda
    Then the ticket has no assignment group

  Scenario: One-way tags flow one way only
    When a BigPanda user sets the incident tag "customer" to "ACME"
    And a BigPanda user sets the incident tag "problem" to "PRB0001"
    And the core polls BigPanda
    Then the ticket field "company" is "ACME"
    And the ticket field "problem_id" is ""
    When an analyst sets the ticket field "company" to "Globex"
    And an analyst sets the ticket field "problem_id" to "PRB0002"
    And 5 seconds pass
    And the core watches ServiceNow for changes
    Then the BigPanda incident tag "customer" is "ACME"
    And the BigPanda incident tag "problem" is "PRB0002"

  Scenario: Clearing a field in ServiceNow removes the tag in BigPanda
    When a BigPanda user sets the incident tag "component" to "nginx"
    And the core polls BigPanda
    And an analyst sets the ticket field "subcategory" to ""
    And 5 seconds pass
    And the core watches ServiceNow for changes
    Then the BigPanda incident has no tag "component"
    And for ten coalesce windows neither side is written again
