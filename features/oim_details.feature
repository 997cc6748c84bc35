Feature: OIM configuration details, as the Open Integration Manager doc describes them
  The event time can come from a payload field: its source tag and its format are configured
  (our syntax: epoch_seconds, epoch_millis, iso8601 or a strftime pattern; no zone means UTC).
  The Sample Payload is an object of its own, with a GET and a POST; every payload field the
  configuration references must be in the sample, and one that is not is refused by name.
  The doc asks to wait ten minutes after creating an integration before posting its rules: the
  simulator can hold to that on its clock (off by default), answering an early POST with 404,
  the integration not found yet (our choice: the doc says only that such a POST "may not be
  successful"). Times are on the bench's virtual clock, which starts at 2026-01-01 00:00:00 UTC.

  Background:
    Given the OIM sample event is
      | field | value               |
      | host  | db-01               |
      | check | disk                |
      | sev   | critical            |
      | when  | 01/02/2026 10:30:00 |

  Scenario: The event time is read from its source tag with the configured format
    Given the OIM integration takes the event time from "@when" in the format "%d/%m/%Y %H:%M:%S"
    When the tool sends an OIM event for host "db-02" with "when" set to "15/03/2026 08:00:00"
    Then BigPanda's alert for host "db-02" started at 2026-03-15 08:00:00 UTC

  Scenario: Without the format the same value cannot be read, and the event time is when it arrived
    Given the OIM integration takes the event time from "@when" with no format
    When the tool sends an OIM event for host "db-02" with "when" set to "15/03/2026 08:00:00"
    Then BigPanda's alert for host "db-02" started at 2026-01-01 00:00:00 UTC

  Scenario: A format that cannot read the sample's time is refused
    When the OIM configuration takes the event time from "@when" in the format "epoch_millis"
    Then BigPanda refuses the OIM configuration with 400 naming "cannot read the sample payload's @when value"

  Scenario: The Sample Payload has its own GET and POST, and a configuration may then leave it blank
    When the tool's sample event is posted as the integration's Sample Payload
    Then the integration's Sample Payload reads back as the sample event
    When the OIM integration is configured with a blank sample payload
    Then the OIM configuration holds the sample event

  Scenario: A field the configuration references but the sample lacks is refused, naming it
    When the OIM configuration also maps the tag "team" from "@owner.team"
    Then BigPanda refuses the OIM configuration with 400 naming "@owner.team"
    Given the OIM integration takes the event time from "@when" in the format "%d/%m/%Y %H:%M:%S"
    When a Sample Payload without the field "check" is posted
    Then BigPanda refuses the Sample Payload with 400 naming "@check"
    And the integration's Sample Payload reads back as the sample event

  Scenario: With the ten-minute wait on, an early POST is refused until ten minutes have passed
    Given BigPanda holds to the ten-minute wait after an OIM integration is created
    When an OIM integration "oim.mytool" is created in BigPanda
    And its OIM configuration is posted at once
    Then BigPanda answers 404 that the integration is not found yet, to retry in 600 s
    When 599 seconds pass
    And its OIM configuration is posted again
    Then BigPanda answers 404 that the integration is not found yet, to retry in 1 s
    When 1 seconds pass
    And its OIM configuration is posted again
    Then BigPanda accepts the OIM configuration

  Scenario: With the wait off (the default), a new integration is configured at once
    When an OIM integration "oim.mytool" is created in BigPanda
    And its OIM configuration is posted at once
    Then BigPanda accepts the OIM configuration
