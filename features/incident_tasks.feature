Feature: Incident tasks from BigPanda alerts, one per assignment group
  The Alert Configuration module turns alerts into ServiceNow incident tasks under the ticket.
  An alert goes into a task when its task tag is true, or always when "Parse events into the
  incident tasks table" is on. The alerts of one assignment group (named by an alert tag)
  share one task, which a later alert of that group updates. Resolved alerts are noted, and a
  task whose alerts are all resolved is closed. All tasks of a poll leave in one Batch API
  request, and a share delivered again never makes a second task.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems
    And the core creates incident tasks from alerts tagged "incident_task", grouped by the alert tag "assignment_group"

  Scenario: Flagged alerts become one task per assignment group, in one request
    Given ServiceNow requests are counted from here
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  | assignment_group        | incident_task |
      | critical | db-prod-01  | cpu   | checkout | Database Administration | true          |
      | warning  | web-prod-01 | http  | checkout | Application Support     | yes           |
      | warning  | web-prod-02 | disk  | checkout | Application Support     | false         |
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket has 2 incident tasks
    And the task for "Database Administration" reads "BigPanda alerts for Database Administration: 1 open, 0 resolved"
    And the task for "Application Support" lists "[WARNING] web-prod-01 / http"
    And no task lists "web-prod-02"
    And the core sent 1 Batch API request to ServiceNow and looked up groups 1 time

  Scenario: A later alert of the same group updates that group's task
    When a monitoring tool sends these alerts:
      | status   | host       | check | service  | assignment_group        | incident_task |
      | critical | db-prod-01 | cpu   | checkout | Database Administration | true          |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status  | host       | check       | service  | assignment_group        | incident_task |
      | warning | db-prod-02 | replication | checkout | Database Administration | true          |
    And the core polls BigPanda
    Then the ticket has 1 incident task
    And the task for "Database Administration" reads "BigPanda alerts for Database Administration: 2 open, 0 resolved"
    And the task for "Database Administration" lists "[CRITICAL] db-prod-01 / cpu"
    And the task for "Database Administration" lists "[WARNING] db-prod-02 / replication"

  Scenario: Resolved alerts are noted, and the task closes with its last open alert
    When a monitoring tool sends these alerts:
      | status   | host       | check       | service  | assignment_group        | incident_task |
      | critical | db-prod-01 | cpu         | checkout | Database Administration | true          |
      | warning  | db-prod-02 | replication | checkout | Database Administration | true          |
    And the core polls BigPanda
    And 300 seconds pass
    And a monitoring tool sends these alerts:
      | status | host       | check | service  |
      | ok     | db-prod-01 | cpu   | checkout |
    And the core polls BigPanda
    Then the task for "Database Administration" reads "BigPanda alerts for Database Administration: 1 open, 1 resolved"
    And the task for "Database Administration" lists "[RESOLVED] db-prod-01 / cpu (resolved 2026-01-01 00:05:00 UTC)"
    And the task for "Database Administration" is in state "1"
    When a monitoring tool sends these alerts:
      | status | host       | check       | service  |
      | ok     | db-prod-02 | replication | checkout |
    And the core polls BigPanda
    Then the task for "Database Administration" is in state "3"

  Scenario: A share delivered again, even to a restarted core, never duplicates a task
    When a monitoring tool sends these alerts:
      | status   | host       | check | service  | assignment_group        | incident_task |
      | critical | db-prod-01 | cpu   | checkout | Database Administration | true          |
    And the core polls BigPanda
    And ServiceNow requests are counted from here
    And BigPanda delivers the same share again
    And the core polls BigPanda
    Then the ticket has 1 incident task
    And the core sent 0 Batch API requests to ServiceNow and looked up groups 0 times
    When the core restarts with the same modules
    And BigPanda delivers the same share again
    And the core polls BigPanda
    Then the ticket has 1 incident task

  Scenario: With "Parse events into the incident tasks table" every alert is parsed into its group's task
    Given "Parse events into the incident tasks table" is on, grouped by the alert tag "assignment_group"
    When a monitoring tool sends these alerts:
      | status   | host        | check | service  | assignment_group        |
      | critical | db-prod-01  | cpu   | checkout | Database Administration |
      | warning  | web-prod-01 | http  | checkout | Application Support     |
    And the core polls BigPanda
    Then the ticket has 2 incident tasks
    And the task for "Application Support" reads "BigPanda alerts for Application Support: 1 open, 0 resolved"

  Scenario: An alert whose group is not in ServiceNow goes into the task without a group
    When a monitoring tool sends these alerts:
      | status   | host       | check | service  | assignment_group | incident_task |
      | critical | db-prod-01 | cpu   | checkout | Storage Team     | true          |
      | warning  | db-prod-02 | disk  | checkout |                  | true          |
    And the core polls BigPanda
    Then the ticket has 1 incident task
    And the task without an assignment group lists "[CRITICAL] db-prod-01 / cpu"
    And the task without an assignment group lists "[WARNING] db-prod-02 / disk"
    And the task without an assignment group lists "Assignment group not found in ServiceNow: Storage Team"
