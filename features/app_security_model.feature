Feature: The v3 app's security model
  The BigPanda app keeps its eight x_bip_panda tables behind 41 dedicated ACLs. A BigPanda User
  reads every BigPanda table with the credentials masked; a BigPanda Admin creates, changes and
  deletes, but reads nothing without the BigPanda User role; the ITIL role alone touches no
  BigPanda table; the integration's service account (itil and x_bip_panda_user) writes the
  tables the share path fills and reads the credentials it decrypts.

  Background:
    Given the BigPanda configuration of organisation "demo" is saved with its credentials

  Scenario: A BigPanda User reads every BigPanda table, with the credentials masked
    Given a ServiceNow user "nina.noc" with the role x_bip_panda_user
    Then "nina.noc" can read every BigPanda table
    And "nina.noc" sees the credentials of organisation "demo" as "********"
    And "nina.noc" cannot search the configuration with STARTSWITH
    And "nina.noc" cannot create a record in any BigPanda table
    And "nina.noc" cannot change or delete a record in any BigPanda table
    And "nina.noc" cannot stage a share through the Import Set API

  Scenario: A BigPanda Admin without the BigPanda User role writes blind
    Given a ServiceNow user "adam.admin" with the role x_bip_panda.admin
    Then "adam.admin" cannot read any BigPanda table
    And "adam.admin" can create a record in every BigPanda table
    And "adam.admin" cannot find the configuration of organisation "demo" to change or delete it

  Scenario: A BigPanda Admin who is also a BigPanda User manages every BigPanda table
    Given a ServiceNow user "ada.admin" with the roles x_bip_panda.admin and x_bip_panda_user
    Then "ada.admin" can read every BigPanda table
    And "ada.admin" sees the credentials of organisation "demo" as stored, encrypted
    And "ada.admin" can create a record in every BigPanda table
    And "ada.admin" can change and delete a record in every BigPanda table

  Scenario: The ITIL role alone touches no BigPanda table
    Given a ServiceNow user "ivan.itil" with the role itil
    Then "ivan.itil" cannot read any BigPanda table
    And "ivan.itil" cannot create a record in any BigPanda table
    And "ivan.itil" can open an incident

  Scenario: The integration service account stages shares and reads the credentials it decrypts
    Given a ServiceNow user "svc.bigpanda" with the roles itil and x_bip_panda_user
    When "svc.bigpanda" stages a share of BigPanda incident "BP-SEC-1" through the Import Set API
    Then the metadata of BigPanda incident "BP-SEC-1" is written
    And "svc.bigpanda" sees the credentials of organisation "demo" as stored, encrypted
    And "svc.bigpanda" cannot change the configuration of organisation "demo"
    And "svc.bigpanda" can open an incident
