Feature: Our team's incidents reach ServiceNow with our settings

  Scenario: A critical alert opens a ticket for the Service Desk
    Given the core runs with the settings in "../settings.yaml"
    When a monitoring tool sends a critical alert for host "web-prod-01" check "CPU load"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket's "assignment_group" is the sys_user_group "Service Desk"
    And BigPanda shows the ServiceNow incident number on the incident

  Scenario: A resolved ticket resolves the BigPanda incident
    Given a critical alert for host "db-prod-01" check "Replication lag" has become a ticket
    When an analyst resolves the ticket in ServiceNow with code "Solution provided" and notes "fixed"
    And the core watches ServiceNow for changes
    Then BigPanda shows the incident resolved
