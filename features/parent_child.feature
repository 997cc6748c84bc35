Feature: Parent-child incidents for multi-alert grouping
  When BigPanda groups alerts from several CIs into one incident, its ticket is the parent and
  each CI gets a child incident (parent_incident set to the ticket, the CI in cmdb_ci, the CI's
  alerts in the description). A child is resolved when all its alerts are, and goes back to
  In Progress when one fires again. The parent's child_incidents counts its children. The
  children of a poll leave in one Batch API request; BigPanda still sees one ticket.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems
    And the core opens a child incident per CI when an incident groups alerts from several CIs

  Scenario: An incident grouping alerts from two CIs gets a child incident per CI, in one request
    Given ServiceNow requests are counted from here
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
      | warning  | web-prod-02 | http  | checkout |
      | critical | web-prod-02 | disk  | checkout |
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket has 2 child incidents and counts 2
    And the child for "web-prod-01" is in state "1" on the CI "web-prod-01"
    And the child for "web-prod-02" reads "BigPanda INC0010001 child: web-prod-02 - critical"
    And the child for "web-prod-02" lists "[WARNING] web-prod-02 / http"
    And the child for "web-prod-02" lists "[CRITICAL] web-prod-02 / disk"
    And BigPanda shows only the parent ticket on the incident
    And the core sent 1 Batch API request for the children and looked up CIs 1 time

  Scenario: An incident whose alerts all come from one CI has no children
    When a monitoring tool sends these alerts:
      | status   | host       | check | service |
      | critical | db-prod-01 | cpu   | billing |
      | warning  | db-prod-01 | disk  | billing |
    And the core polls BigPanda
    Then the ticket has 0 child incidents and counts 0

  Scenario: A child is resolved with its alerts and reopened when one fires again
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
      | warning  | web-prod-02 | http  | checkout |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status | host        | check | service  |
      | ok     | web-prod-01 | http  | checkout |
    And the core polls BigPanda
    Then the child for "web-prod-01" is resolved with code "Solution provided"
    And the child for "web-prod-02" is in state "1" on the CI "web-prod-02"
    And the ticket has 2 child incidents and counts 2
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
    And the core polls BigPanda
    Then the child for "web-prod-01" is in state "2" on the CI "web-prod-01"

  Scenario: A CI joining later adds a child and the count follows
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
      | warning  | web-prod-02 | http  | checkout |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status   | host       | check | service  |
      | critical | db-prod-01 | conns | checkout |
    And the core polls BigPanda
    Then the ticket has 3 child incidents and counts 3
    And the child for "db-prod-01" is in state "1" on the CI "db-prod-01"

  Scenario: When every alert resolves, the ticket and all its children are resolved
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
      | warning  | web-prod-02 | http  | checkout |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status | host        | check | service  |
      | ok     | web-prod-01 | http  | checkout |
      | ok     | web-prod-02 | http  | checkout |
    And the core polls BigPanda
    Then the ticket is in state "6"
    And the child for "web-prod-01" is resolved with code "Solution provided"
    And the child for "web-prod-02" is resolved with code "Solution provided"

  Scenario: A share delivered again, even to a restarted core, never duplicates a child
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  |
      | critical | web-prod-01 | http  | checkout |
      | warning  | web-prod-02 | http  | checkout |
    And the core polls BigPanda
    And the core restarts with the same modules
    And BigPanda delivers the same share again
    And the core polls BigPanda
    Then the ticket has 2 child incidents and counts 2
    And ServiceNow has 1 incident for that BigPanda incident
