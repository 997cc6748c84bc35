Feature: The versioned configuration drives every module
  The core runs from the organisation's current version in x_bip_panda_config (`bpsn core --org`).
  Every setting of the seed's connection table and connection defaults comes from that version:
  the modules run with their keys and switches, the organisation API key stands in for a missing
  bearer token, the Incident URL base is where the links point, and the Retrieval and Callback
  Endpoints are whole URLs. A new version is applied at the next cycle, without a restart.

  Background:
    Given the organisation's configuration has its bearer token, API key and Incidents App Key

  Scenario: Without their keys only the incidents module runs
    When the core starts from the organisation's configuration
    Then the modules running are "incidents"
    And the module "changes" is not running: "no changes_app_key"
    And the module "oim" is not running: "no oim_app_key"

  Scenario: A new version with the keys starts the modules at the next cycle, and a switch stops one
    Given the core runs from the organisation's configuration
    When a new configuration version sets:
      | setting         | value                |
      | changes_app_key | (seeded)             |
      | oim_app_key     | (seeded)             |
      | cmdb_v2_app_key | cmdb-enrichment-key  |
    And the core runs one cycle
    Then the core runs configuration version 2
    And the modules running are "incidents, changes, cmdb, oim"
    And the core sends the Changes App Key of version 2 with each change
    When a new configuration version sets:
      | setting    | value |
      | oim_active | false |
    And the core runs one cycle
    Then the modules running are "incidents, changes, cmdb"
    And the module "oim" is not running: "switched off (oim_active is false)"

  Scenario: The CMDB connection defaults come from the version
    Given the organisation's configuration sets:
      | setting             | value               |
      | cmdb_v2_app_key     | cmdb-enrichment-key |
      | cmdb_page_size      | 25                  |
      | cmdb_max_pages      | 4                   |
      | cmdb_max_retries    | 1                   |
      | cmdb_retry_interval | 2.5                 |
      | cmdb_sync_interval  | 3600                |
    When the core starts from the organisation's configuration
    Then the CMDB sync runs with:
      | setting        | value  |
      | page_size      | 25     |
      | max_pages      | 4      |
      | max_retries    | 1      |
      | retry_interval | 2.5    |
      | sync_interval  | 3600   |

  Scenario: The Incidents module's switch stops the tickets
    Given the organisation's configuration sets:
      | setting | value |
      | active  | false |
    And the core runs from the organisation's configuration
    When a monitoring tool sends a critical alert for host "cfg-off-01" check "disk"
    And the core runs one cycle
    Then ServiceNow has 0 incidents for that BigPanda incident
    And the module "incidents" is not running: "switched off (active is false)"

  Scenario: The organisation API key is the legacy fallback credential
    Given the organisation's configuration sets:
      | setting      | value  |
      | bearer_token | (none) |
    And the core runs from the organisation's configuration
    When a monitoring tool sends a critical alert for host "cfg-legacy-01" check "disk"
    And the core runs one cycle
    Then ServiceNow has 1 incident for that BigPanda incident
    And the core retrieved the shares with the organisation API key

  Scenario: The Retrieval and Callback Endpoints are used as whole URLs
    Given the organisation's configuration sets:
      | setting            | value                                                                   |
      | retrieval_endpoint | (bigpanda)/integrations/v3/servicenow/shares?endpoint=retrieval-setting |
      | callback_endpoint  | (bigpanda)/integrations/v3/servicenow/callbacks?endpoint=callback-setting |
    And the core runs from the organisation's configuration
    When a monitoring tool sends a critical alert for host "cfg-endpoint-01" check "disk"
    And the core runs one cycle
    Then ServiceNow has 1 incident for that BigPanda incident
    And the core retrieved shares from BigPanda at "/integrations/v3/servicenow/shares" with "endpoint=retrieval-setting"
    And the core sent callbacks to BigPanda at "/integrations/v3/servicenow/callbacks" with "endpoint=callback-setting"

  Scenario: The Incident URL base is where the ticket's BigPanda links point
    Given the organisation's configuration sets:
      | setting           | value                        |
      | incident_url_base | https://console.acme.example |
    And the core runs from the organisation's configuration
    When a monitoring tool sends a critical alert for host "cfg-links-01" check "disk"
    And the core runs one cycle
    Then the ticket's BigPanda links point at "https://console.acme.example"
