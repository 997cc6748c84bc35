Feature: The settings that used to do nothing take effect
  "Enable AIA descriptions and remove the alert summary?" is an Alert Configuration setting and
  changes the ticket description. "Only Text type incident tags are supported": a mapping of any
  other tag type is refused when it is saved, saying why, and no version is written.

  Scenario: Enable AIA descriptions and remove the alert summary
    Given BigPanda defines the Text incident tags "ai_summary"
    And the Alert Configuration answers "Enable AIA descriptions and remove the alert summary?" with "Yes"
    When a monitoring tool sends a critical alert for host "aia-01" check "disk"
    And a BigPanda user sets the incident tag "ai_summary" to "Disk filled by a runaway log."
    And the core polls BigPanda
    Then the ticket description contains the line "AI summary:"
    And the ticket description contains the line "Disk filled by a runaway log."
    And the ticket description does not contain "1 Critical"

  Scenario: Without that answer the alert summary stays
    Given BigPanda defines the Text incident tags "ai_summary"
    And the Alert Configuration answers "Enable AIA descriptions and remove the alert summary?" with "No"
    When a monitoring tool sends a critical alert for host "aia-02" check "disk"
    And a BigPanda user sets the incident tag "ai_summary" to "Disk filled by a runaway log."
    And the core polls BigPanda
    Then the ticket description contains the line "1 Critical, 0 Warning, 0 Unknown, 0 Resolved"
    And the ticket description does not contain "AI summary:"

  Scenario: A Text incident tag mapping is saved
    Given the organisation's configuration has its bearer token, API key and Incidents App Key
    And BigPanda defines the Text incident tag "team"
    When an admin saves the Incident Tag Mapping "team" to the field "assignment_group"
    Then the current configuration maps "team"

  Scenario Outline: A closed-list incident tag mapping is refused when it is saved
    Given the organisation's configuration has its bearer token, API key and Incidents App Key
    And BigPanda defines the <type> incident tag "tier"
    When an admin saves the Incident Tag Mapping "tier" to the field "u_tier"
    Then the mapping is refused, saying "'tier' is a <type> incident tag in BigPanda; only Text type incident tags are supported"
    And the current configuration maps no tag

    Examples:
      | type                   |
      | ClosedListValuesSingle |
      | ClosedListValuesMulti  |
      | Priority               |

  Scenario: The similar-incident history is kept in the instance, so a restart keeps it
    Given the core lists similar incidents scoring at least 0.5, after a restart too
    When a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-01 | cpu   | prod | dba  |
    And the core polls BigPanda
    And the core restarts with the same modules
    And a monitoring tool sends these alerts:
      | status   | host       | check | env  | team |
      | critical | db-prod-02 | cpu   | prod | dba  |
    And the core polls BigPanda
    Then the newest ticket lists 1 similar incident
    And it lists the first incident's ticket with score "0.60"
    And the reasoning reads "Shares 3 of 5 alert tags with INC0010001 (Jaccard 0.60): check=cpu, env=prod, team=dba. Same check: cpu."

  Scenario: Root Cause Changes are followed across a restart: the instance says what is open and what the core set
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds, after a restart too
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And BigPanda relates the change "CHG0030001" to the incident as "MATCH" with comment "Deployed 4 minutes before"
    And the core polls BigPanda
    Then the ticket was caused by "CHG0030001"
    When the core restarts with the same modules
    And BigPanda relates the change "CHG0030001" to the incident as "NONE" with comment "Unrelated after all"
    And the core refreshes Root Cause Changes
    Then the related change "CHG0030001" is "NONE" with comment "Unrelated after all"
    And the ticket has no "caused by" change

  Scenario: Correlation relationships and external tickets are filled from what BigPanda sends
    When a monitoring tool sends a critical alert for host "corr-01" check "disk"
    And the core polls BigPanda
    Then the instance holds the correlation "host=corr-01" of type "by_host" with confidence "1.00"
    And the instance lists 0 external tickets of the incident
    When a monitoring tool sends an ok alert for host "corr-01" check "disk"
    And the core polls BigPanda
    Then the instance lists 1 external tickets of the incident
    And the external ticket is the "servicenow" ticket with its number and URL

  Scenario: BigPanda shares every update the ticket shows: an alert resolved in a still-critical incident
    When a monitoring tool sends a critical alert for host "upd-01" check "disk"
    And a monitoring tool sends a warning alert for host "upd-01" check "cpu"
    And the core polls BigPanda
    Then the ticket description contains the line "1 Critical, 1 Warning, 0 Unknown, 0 Resolved"
    When a monitoring tool sends an ok alert for host "upd-01" check "cpu"
    And the core polls BigPanda
    Then the ticket description contains the line "1 Critical, 0 Warning, 0 Unknown, 1 Resolved"
