Feature: CMDB enrichment keeps BigPanda's CI maps in step with ServiceNow
  The v2 delta sync reads the configured CI classes and fields, keeps a hash per record,
  and sends BigPanda only what changed: an upsert for a new or edited CI, a delete for a
  removed one. A map deleted on BigPanda's side is re-created and filled again without
  anyone's help; a throttled BigPanda (429) is waited out, 60 s then 300 s then 900 s, with
  jitter. The v1 full CSV export stays available. Waits pass on the virtual clock.

  Background:
    Given the CMDB sync sends class "cmdb_ci_server" with fields "name, ip_address, os"
    And the CMDB holds 10 servers

  Scenario: The first sync sends every CI
    When the CMDB sync runs
    Then BigPanda receives 10 upserts and 0 deletes
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A second sync with nothing changed sends nothing
    Given the CMDB sync ran a day ago
    When the CMDB sync runs
    Then BigPanda receives 0 upserts and 0 deletes
    And no CMDB data was sent to BigPanda

  Scenario: One edited CI is sent as one upsert
    Given the CMDB sync ran a day ago
    When an engineer sets "ip_address" of server "web-prod-01" to "10.9.9.9"
    And the CMDB sync runs
    Then BigPanda receives 1 upsert and 0 deletes
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A change to a field the sync does not send changes nothing in BigPanda
    Given the CMDB sync ran a day ago
    When an engineer sets "serial_number" of server "web-prod-01" to "SN-0042"
    And the CMDB sync runs
    Then BigPanda receives 0 upserts and 0 deletes

  Scenario: A deleted CI is sent as one delete
    Given the CMDB sync ran a day ago
    When an engineer deletes server "db-prod-01"
    And the CMDB sync runs
    Then BigPanda receives 0 upserts and 1 delete
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A map deleted in BigPanda is re-created and filled again without anyone's help
    Given the CMDB sync ran a day ago
    When a BigPanda user deletes the map "snow_cmdb_cmdb_ci_server"
    And the CMDB sync runs
    Then the sync reports the map "snow_cmdb_cmdb_ci_server" re-created
    And BigPanda receives 10 upserts and 0 deletes
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A storm of 429 answers is waited out and nothing is lost
    Given BigPanda answers 429 to the next 10 CMDB requests
    When the CMDB sync runs
    Then the sync backed off 60 s and then 300 s, each lengthened by at most 25% jitter
    And BigPanda receives 10 upserts and 0 deletes
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A failed CMDB call is retried after the retry interval
    Given BigPanda answers 503 to the next CMDB request
    When the CMDB sync runs
    Then the sync waited once, between 5 and 6.25 seconds
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A table larger than one pass is read over several passes and resumes after a restart
    Given the CMDB sync reads pages of 3 records, at most 2 pages per pass
    When the CMDB sync runs one pass
    Then BigPanda receives 6 upserts and 0 deletes
    And the sync has not reached the end of "cmdb_ci_server"
    When the CMDB sync restarts
    And the CMDB sync runs one pass
    Then BigPanda receives 4 upserts and 0 deletes
    And the sync has reached the end of "cmdb_ci_server"
    And BigPanda's map "snow_cmdb_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A configured field the class does not have is reported by name
    Given the CMDB sync sends class "cmdb_ci_server" with fields "name, colour"
    When the CMDB sync runs
    Then the sync reports for "cmdb_ci_server" the error "cmdb_ci_server has no field colour"
    And no CMDB data was sent to BigPanda

  Scenario: The v1 export uploads the whole table as CSV and waits for the job
    Given the CMDB sync ran a day ago
    When the CMDB v1 export runs
    Then the v1 upload job of "cmdb_ci_server" is done with 10 rows
    And BigPanda's v1 table "snow_cmdb_v1_cmdb_ci_server" holds every server as ServiceNow has it

  Scenario: A v1 export BigPanda refuses reports the reason
    Given the CMDB sync sends class "cmdb_ci_service" with fields "name, service_classification"
    When the CMDB v1 export runs
    Then the v1 upload job of "cmdb_ci_service" failed saying "at least 2 are required"
