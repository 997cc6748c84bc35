Feature: Selected ServiceNow records reach BigPanda as alerts through OIM
  With the OIM app key configured, the core keeps the OIM integration's configuration as it
  needs it (created, or updated when someone changed it) and sends the incidents raised in
  ServiceNow, not the tickets it made itself from BigPanda, as alerts through
  POST /oim/api/alerts. The host is the record's CI, found by the same four-level chain as
  for changes. Bodies stay under BigPanda's 6 MB limit: a batch too large is split, a single
  record too large is refused with an error that names it, and nothing is dropped in
  silence. Requests stay within 5 a second on the core's clock.

  Background:
    Given the integration core is connected to both systems
    And the core forwards ServiceNow records to BigPanda through OIM

  Scenario: The first pass creates the OIM configuration
    When the core forwards records through OIM
    Then the core reports the OIM configuration "created"
    And BigPanda's OIM configuration takes the primary property from "host"
    When the core forwards records through OIM
    Then the core did not check the OIM configuration again

  Scenario: A configuration changed by hand in BigPanda is put back
    Given the core has forwarded records through OIM once
    When someone changes the OIM configuration's primary property to "hostname" in BigPanda
    And the core restarts
    And the core forwards ServiceNow records to BigPanda through OIM
    And the core forwards records through OIM
    Then the core reports the OIM configuration "updated"
    And BigPanda's OIM configuration takes the primary property from "host"

  Scenario: An incident raised in ServiceNow becomes an alert, and its resolution resolves it
    When an analyst raises an incident "Checkout returns HTTP 500" on "web-prod-01" with impact 1 and urgency 1
    And the core forwards records through OIM
    Then BigPanda has a "critical" alert for host "web-prod-01" from that incident
    And the alert's tag "ci_level" is "ci"
    And the alert's tag "ticket_url" links to the incident in ServiceNow
    When 60 seconds pass
    And the analyst resolves the incident in ServiceNow
    And the core forwards records through OIM
    Then BigPanda has an "ok" alert for host "web-prod-01" from that incident

  Scenario: Without a CI the alert is keyed by the incident number
    When an analyst raises an incident "Printer jammed again" with impact 3 and urgency 3
    And the core forwards records through OIM
    Then BigPanda has a "warning" alert whose primary property is the incident number

  Scenario: Tickets the core made from BigPanda are not sent back
    Given a critical alert for host "pay-prod-01" check "Errors" has become a ticket
    When the core forwards records through OIM
    Then the core sent 0 OIM alerts

  Scenario: Records over 6 MB together are split into bodies under 6 MB
    When analysts raise 3 incidents with descriptions of 2500000 characters
    And the core forwards records through OIM
    Then the core sent 3 OIM alerts in 2 requests
    And every OIM request body was at most 6291456 bytes
    And BigPanda has an alert for each of those incidents

  Scenario: A record over 6 MB on its own is refused with a clear error, the others still go
    When analysts raise 1 incident with a description of 7000000 characters
    And an analyst raises an incident "Checkout returns HTTP 500" on "web-prod-01" with impact 1 and urgency 1
    And the core forwards records through OIM
    Then the core reports that the large incident is over the 6 MB limit
    And BigPanda has a "critical" alert for host "web-prod-01" from that incident
    And the core sent 1 OIM alert
    When the core forwards records through OIM
    Then the core sent 0 OIM alerts
    And the core reports nothing refused

  Scenario: Requests stay within 5 a second
    Given the core sends at most 2 events per OIM request
    When analysts raise 14 incidents
    And the core forwards records through OIM
    Then the core sent 14 OIM alerts in 7 requests
    And BigPanda refused no OIM request for its rate limit
    And the core waited at least 1 second on its clock

  Scenario: BigPanda failing loses no record
    Given BigPanda answers 503 to the next 6 OIM alert requests
    When an analyst raises an incident "Checkout returns HTTP 500" on "web-prod-01" with impact 1 and urgency 1
    And the core forwards records through OIM
    Then the core sent 0 OIM alerts
    And the core stopped the OIM pass on BigPanda's "503"
    When the core forwards records through OIM
    Then BigPanda has a "critical" alert for host "web-prod-01" from that incident
