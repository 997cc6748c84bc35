Feature: The integration's BigPanda user needs five permissions
  BigPanda follows least privilege: users carry roles, roles carry permissions, and a user API
  key acts with its user's roles. The v3 app doc names the minimum the integration's user
  needs: Autoshare, Incident Enrichment, Root Cause Changes, Incident Actions (All
  Environments) and Manage Environments; "if any of these permissions are missing, the
  corresponding integration features will not function". Each API the core calls checks its
  permission and answers 403 naming it. Roles are set through the simulator's admin API; by
  default every user has a role with all five.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems

  Scenario: By default the integration's user has every permission the v3 app needs
    Then the integration's BigPanda user has the permissions
      | permission                          |
      | Autoshare                           |
      | Incident Enrichment                 |
      | Root Cause Changes                  |
      | Incident Actions (All Environments) |
      | Manage Environments                 |

  Scenario: Without Autoshare no incident reaches ServiceNow until the permission is given
    Given the integration's BigPanda user has every permission but "Autoshare"
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And the core tries to poll BigPanda
    Then the core's poll was refused with 403 naming "Autoshare"
    And ServiceNow has 0 incident for that BigPanda incident
    And BigPanda still holds the incident's share
    When the integration's BigPanda user is given every permission
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident

  Scenario: Without Incident Enrichment the CMDB sync cannot fill BigPanda's maps
    Given the integration's BigPanda user has every permission but "Incident Enrichment"
    And the CMDB sync sends class "cmdb_ci_server" with fields "name, ip_address, os"
    And the CMDB holds 10 servers
    When the CMDB sync tries to run
    Then the CMDB sync stopped on BigPanda's 403 naming "Incident Enrichment"
    And BigPanda has no enrichment map

  Scenario: Without Root Cause Changes the ticket gets no related changes, and the core says why
    Given ServiceNow has the change requests "CHG0030001" and "CHG0030002"
    And the core copies Root Cause Changes, reading an open incident at most every 300 seconds
    And the integration's BigPanda user has every permission but "Root Cause Changes"
    When a monitoring tool sends a critical alert for host "web-prod-01" check "http"
    And BigPanda relates the change "CHG0030001" to the incident as "MATCH" with comment "Deployed 4 minutes before"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket has 0 related changes
    And BigPanda answered the core's "/resources/v2.0/rcc" requests with 403
    And the core reported that BigPanda refused it for want of "Root Cause Changes"

  Scenario: Without Incident Actions an analyst's resolve does not reach BigPanda
    Given a critical alert for host "web-prod-01" check "http" has become a ticket
    And the integration's BigPanda user has every permission but "Incident Actions (All Environments)"
    When an analyst resolves the ticket in ServiceNow with code "Solution provided" and notes "Fixed"
    And the core watches ServiceNow for changes
    Then BigPanda answered the core's "/resolve" requests with 403
    And the core reported that BigPanda refused it for want of "Incident Actions (All Environments)"
    And BigPanda shows the incident still active

  Scenario: Without Manage Environments the core cannot find the incident's environment
    Given a critical alert for host "web-prod-01" check "http" has become a ticket
    And the integration's BigPanda user has every permission but "Manage Environments"
    When an analyst resolves the ticket in ServiceNow with code "Solution provided" and notes "Fixed"
    And the core watches ServiceNow for changes
    Then BigPanda answered the core's "/resources/v2.0/environments" requests with 403
    And the core reported that BigPanda refused it for want of "Manage Environments"
    And BigPanda shows the incident still active
