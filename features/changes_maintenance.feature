Feature: Change requests, change tasks and outages reach BigPanda as changes and maintenance plans
  The core follows ServiceNow's change_request, change_task and cmdb_ci_outage tables. Each
  change request and change task becomes a BigPanda change (for Root Cause Changes), updated
  whenever the record changes, within BigPanda's changes limit of 400 a minute. A scheduled
  or implementing change request with a planned window, and an outage, become a maintenance
  plan on their CI, which follows the record: moved, stopped or deleted. The CI is found by
  a four-level fallback chain: the record's CI, its affected CIs, its business service, a
  CI named in its text; each level looks at the record, then at the task it belongs to.
  Times are on the bench's virtual clock, which starts at 2026-01-01 00:00:00 UTC.

  Background:
    Given the integration core is connected to both systems
    And the core forwards ServiceNow changes to BigPanda

  Scenario: A scheduled change request becomes a BigPanda change
    When a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    Then BigPanda has the change "Patch web tier" with status "Planned"
    And the change "Patch web tier" runs from 1 to 3 hours from now
    And the change "Patch web tier" has the tags
      | tag              | value          |
      | ci               | web-prod-01    |
      | ci_level         | ci             |
      | servicenow_table | change_request |
      | change_type      | normal         |
    And the change "Patch web tier" links to its record in ServiceNow

  Scenario: ServiceNow states become BigPanda statuses
    When these change records are in ServiceNow
      | table          | summary              | state |
      | change_request | A new change         | -5    |
      | change_request | An assessed change   | -4    |
      | change_request | An authorised change | -3    |
      | change_request | A scheduled change   | -2    |
      | change_request | An implemented one   | -1    |
      | change_request | A change in review   | 0     |
      | change_request | A closed change      | 3     |
      | change_request | A canceled change    | 4     |
      | change_task    | A pending task       | -5    |
      | change_task    | An open task         | 1     |
      | change_task    | A task in progress   | 2     |
      | change_task    | A closed task        | 3     |
      | change_task    | A canceled task      | 4     |
    And the core syncs changes
    Then BigPanda shows these statuses
      | summary              | status      |
      | A new change         | Planned     |
      | An assessed change   | Planned     |
      | An authorised change | Planned     |
      | A scheduled change   | Planned     |
      | An implemented one   | In Progress |
      | A change in review   | Done        |
      | A closed change      | Done        |
      | A canceled change    | Canceled    |
      | A pending task       | Planned     |
      | An open task         | Planned     |
      | A task in progress   | In Progress |
      | A closed task        | Done        |
      | A canceled task      | Canceled    |

  Scenario: An update is forwarded again, an unchanged record is not sent twice
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    When 60 seconds pass
    And the change "Patch web tier" moves to state "-1" in ServiceNow
    And the core syncs changes
    Then BigPanda has the change "Patch web tier" with status "In Progress"
    And BigPanda has 1 change in all
    When 60 seconds pass
    And someone adds a work note to the change "Patch web tier" in ServiceNow
    And the core syncs changes
    Then the core sent 0 changes and found 1 unchanged

  Scenario: A record that maps to no BigPanda status is reported, the others still go
    When these change records are in ServiceNow
      | table          | summary            | state |
      | change_request | A strange change   | 7     |
      | change_request | A scheduled change | -2    |
    And the core syncs changes
    Then the core reports "state '7' maps to no BigPanda status" for the change "A strange change"
    And BigPanda has the change "A scheduled change" with status "Planned"
    And BigPanda has 1 change in all

  Scenario: The CI comes from the first of four levels that names one
    When these change requests are scheduled in ServiceNow from 1 to 2 hours from now
      | summary                          | ci          | affected CIs             | business service |
      | Patch web tier                   | web-prod-01 | web-prod-02              | Online Store     |
      | Rotate certificates              |             | web-prod-01, web-prod-02 | Online Store     |
      | Change payment settings          |             |                          | Online Store     |
      | Reboot db-prod-01 after patching |             |                          |                  |
      | Tidy up the runbooks             |             |                          |                  |
    And the core syncs changes
    Then the changes carry these CIs
      | summary                          | ci                      | ci_level         |
      | Patch web tier                   | web-prod-01             | ci               |
      | Rotate certificates              | web-prod-01\|web-prod-02 | affected_ci      |
      | Change payment settings          | Online Store            | business_service |
      | Reboot db-prod-01 after patching | db-prod-01              | named_in_text    |
      | Tidy up the runbooks             |                         |                  |
    And the maintenance plans have these conditions
      | summary                          | condition                                      |
      | Patch web tier                   | {"=": ["host", "web-prod-01"]}                 |
      | Rotate certificates              | {"IN": ["host", ["web-prod-01", "web-prod-02"]]} |
      | Change payment settings          | {"=": ["host", "Online Store"]}                |
      | Reboot db-prod-01 after patching | {"=": ["host", "db-prod-01"]}                  |
    And the change "Tidy up the runbooks" has no maintenance plan

  Scenario: A change task without a CI takes its change request's CI and number
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    When a change task "Drain the load balancer" is added to the change "Patch web tier"
    And the core syncs changes
    Then the change "Drain the load balancer" has the tags
      | tag              | value       |
      | ci               | web-prod-01 |
      | ci_level         | ci          |
      | servicenow_table | change_task |
    And the change "Drain the load balancer" names the change request of "Patch web tier"

  Scenario: Changes stay within BigPanda's 400 changes a minute
    Given BigPanda allows 1000 requests a second per token
    And 450 change requests are scheduled in ServiceNow
    When the core syncs changes
    Then BigPanda has 400 changes in all
    And the core waits for the changes budget ("changes per minute")
    When 60 seconds pass
    And the core syncs changes
    Then BigPanda has 450 changes in all
    And BigPanda refused no request for its rate limit

  Scenario: BigPanda failing loses no change
    Given BigPanda answers 503 to the next 6 changes requests
    And a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    When the core syncs changes
    Then BigPanda has 0 changes in all
    And the core stopped the pass on BigPanda's "503"
    When the core syncs changes
    Then BigPanda has the change "Patch web tier" with status "Planned"

  Scenario: A scheduled change puts its CI in maintenance for its planned window
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    When the core syncs changes
    Then the maintenance plan of "Patch web tier" runs from 1 to 3 hours from now
    And the maintenance plan of "Patch web tier" is "planned"
    When 5400 seconds pass
    And a monitoring tool sends a critical alert for host "web-prod-01" check "CPU"
    Then the alert is in the maintenance plan of "Patch web tier"

  Scenario: A change that is not approved yet puts nothing in maintenance
    When these change records are in ServiceNow
      | table          | summary            | state |
      | change_request | A new change       | -5    |
      | change_request | An assessed change | -4    |
    And the core syncs changes
    Then the change "A new change" has no maintenance plan
    And the change "An assessed change" has no maintenance plan

  Scenario: Moving the planned window moves the plan
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    When the change "Patch web tier" is rescheduled in ServiceNow from 2 to 5 hours from now
    And the core syncs changes
    Then the maintenance plan of "Patch web tier" runs from 2 to 5 hours from now
    And there is 1 maintenance plan in all

  Scenario: Closing the change while its window runs stops the plan
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    When 5400 seconds pass
    And the change "Patch web tier" moves to state "3" in ServiceNow
    And the core syncs changes
    Then the maintenance plan of "Patch web tier" is "expired"
    And the maintenance plan of "Patch web tier" ended just now
    And BigPanda has the change "Patch web tier" with status "Done"

  Scenario: Canceling the change before its window deletes the plan
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    When the change "Patch web tier" moves to state "4" in ServiceNow
    And the core syncs changes
    Then the change "Patch web tier" has no maintenance plan
    And BigPanda has the change "Patch web tier" with status "Canceled"

  Scenario: An outage puts its CI in maintenance, and its end moves the plan
    When an outage "Database failover" of "db-prod-01" began 10 minutes ago with no end yet
    And the core syncs changes
    Then the maintenance plan of "Database failover" runs from 10 minutes ago to 230 minutes from now
    And the maintenance plan of "Database failover" is "active"
    When 600 seconds pass
    And the outage "Database failover" gets its end 30 minutes from now
    And the core syncs changes
    Then the maintenance plan of "Database failover" runs from 20 minutes ago to 30 minutes from now
    When 600 seconds pass
    And the outage "Database failover" gets its end 0 minutes from now
    And the core syncs changes
    Then the maintenance plan of "Database failover" is "expired"

  Scenario: A restarted core finds the plans it made
    Given a change manager schedules "Patch web tier" on "web-prod-01" from 1 to 3 hours from now
    And the core syncs changes
    When the core restarts
    And the core forwards ServiceNow changes to BigPanda
    And the change "Patch web tier" is rescheduled in ServiceNow from 2 to 4 hours from now
    And the core syncs changes
    Then there is 1 maintenance plan in all
    And the maintenance plan of "Patch web tier" runs from 2 to 4 hours from now
