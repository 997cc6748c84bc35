Feature: Root Cause Changes and similar incidents
  Root Cause Changes (RCC): the core reads the changes BigPanda relates to an incident (one
  call per incident, at once for a new ticket, then at most every few minutes while the
  incident is open) and keeps one related-change row per change on the ticket, with its match
  certainty and comment, linked to the change request of that number. When exactly one change
  is a MATCH, it becomes the ticket's "caused by" change.
  Similar incidents: the core compares the alert tags of each new incident with those of the
  incidents it opened tickets for before; those sharing at least half their tags are listed
  on the ticket with the score and a sentence saying why.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: Related changes reach the new ticket with their match certainty, in one request
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And BigPanda relates the change "CHG0030001" to the incident as "MATCH" with comment "Deployed 4 minutes before"
    And BigPanda relates the change "CHG0030002" to the incident as "SUSPECT" with comment "Same service"
    And ServiceNow requests are counted from here
    And the core polls BigPanda
    Then the ticket has 2 related changes
    And the related change "CHG0030001" is "MATCH" with comment "Deployed 4 minutes before"
    And the related change "CHG0030002" is "SUSPECT" with comment "Same service"
    And the ticket was caused by "CHG0030001"
    And the core asked BigPanda for Root Cause Changes 1 time
    And the core sent 1 Batch API request for "x_bip_panda_related_change" and looked up change requests 1 time

  Scenario: A change related later is read within the refresh interval, not before
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And the core polls BigPanda
    And BigPanda relates the change "CHG0030002" to the incident as "SUSPECT" with comment "Config push"
    And ServiceNow requests are counted from here
    And 120 seconds pass
    And the core refreshes Root Cause Changes
    Then the ticket has 0 related changes
    And the core asked BigPanda for Root Cause Changes 0 times
    When 180 seconds pass
    And the core refreshes Root Cause Changes
    Then the ticket has 1 related change
    And the related change "CHG0030002" is "SUSPECT" with comment "Config push"
    And the ticket has no "caused by" change
    And the core asked BigPanda for Root Cause Changes 1 time

  Scenario: A change confirmed as the cause becomes "caused by", and stops being it when ruled out
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And BigPanda relates the change "CHG0030001" to the incident as "SUSPECT" with comment "Deployed 4 minutes before"
    And the core polls BigPanda
    Then the ticket has no "caused by" change
    When BigPanda relates the change "CHG0030001" to the incident as "MATCH" with comment "Rollback fixed it"
    And 300 seconds pass
    And the core refreshes Root Cause Changes
    Then the related change "CHG0030001" is "MATCH" with comment "Rollback fixed it"
    And the ticket was caused by "CHG0030001"
    When BigPanda relates the change "CHG0030001" to the incident as "NONE" with comment "Unrelated after all"
    And 300 seconds pass
    And the core refreshes Root Cause Changes
    Then the related change "CHG0030001" is "NONE" with comment "Unrelated after all"
    And the ticket has no "caused by" change

  Scenario: Two MATCHes name no single cause; a change unknown to ServiceNow keeps its identifier
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And BigPanda relates the change "CHG0030001" to the incident as "MATCH" with comment "One of two"
    And BigPanda relates the change "JIRA-77" to the incident as "MATCH" with comment "Hotfix outside ServiceNow"
    And the core polls BigPanda
    Then the ticket has 2 related changes
    And the related change "JIRA-77" is "MATCH" with comment "Hotfix outside ServiceNow" and no change request
    And the ticket has no "caused by" change

  Scenario: A new incident like an earlier one lists it with a score and the reasons
    Given the core lists similar incidents scoring at least 0.5
    When a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-01 | cpu   | prod | dba  |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-02 | cpu   | prod | dba  |
    And ServiceNow requests are counted from here
    And the core polls BigPanda
    Then the newest ticket lists 1 similar incident
    And it lists the first incident's ticket with score "0.60"
    And the reasoning reads "Shares 3 of 5 alert tags with INC0010001 (Jaccard 0.60): check=cpu, env=prod, team=dba. Same check: cpu."
    And the core sent 1 Batch API request for "x_bip_panda_similar_incident" and looked up change requests 0 times

  Scenario: An incident with too little in common lists no similar incident
    Given the core lists similar incidents scoring at least 0.5
    When a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-01 | cpu   | prod | dba  |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status  | host        | check | env     | team |
      | warning | web-prod-01 | http  | staging | web  |
    And the core polls BigPanda
    Then the newest ticket lists 0 similar incidents

  Scenario: A share delivered again writes no similar-incident row twice
    Given the core lists similar incidents scoring at least 0.5
    When a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-01 | cpu   | prod | dba  |
    And the core polls BigPanda
    And a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-02 | cpu   | prod | dba  |
    And the core polls BigPanda
    And ServiceNow requests are counted from here
    And BigPanda delivers the newest incident's share again
    And the core polls BigPanda
    Then the newest ticket lists 1 similar incident
    And the core sent 0 Batch API requests for "x_bip_panda_similar_incident" and looked up change requests 0 times
