Feature: Privacy compliance (GDPR / CCPA)
  Personal data the privacy policy names - fields and tags holding emails, names, phone
  numbers or IP addresses, and those found in free text - is pseudonymised (a keyed hash:
  the same person always gets the same pseudonym, and only the key holder can link it back)
  or redacted before it leaves one system for the other, per direction.
  A data protection officer finds, exports and erases a person's data in the x_bip_panda
  tables by email; every erase is audited with a keyed hash of the email, never the email.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow
    And the integration core is connected to both systems
    And the privacy key is "bench-privacy-key"

  Scenario: Emails and phone numbers in an alert description reach ServiceNow pseudonymised
    Given the privacy policy pseudonymises emails and phone numbers in free text on the way to ServiceNow
    When a monitoring tool sends a critical alert for host "web-prod-01" check "Disk full" described "Disk full; call +44 20 7946 0958 or mail alice.ops@example.com"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket does not contain "alice.ops@example.com"
    And the ticket does not contain "+44 20 7946 0958"
    And the ticket description contains the pseudonym of the email "alice.ops@example.com"
    And the ticket description contains the pseudonym of the phone number "+44 20 7946 0958"
    And the ticket description contains "Disk full; call"

  Scenario: The same person gets the same pseudonym on every ticket
    Given the privacy policy pseudonymises emails in free text on the way to ServiceNow
    When a monitoring tool sends a critical alert for host "db-prod-01" check "Backup" described "Backup failed, owner Alice.Ops@example.com"
    And a monitoring tool sends a critical alert for host "db-prod-02" check "Backup" described "Backup failed, owner alice.ops@example.com"
    And the core polls BigPanda
    Then both tickets contain the pseudonym of the email "alice.ops@example.com"

  Scenario: A host named by its IP address is pseudonymised where the policy names the tag
    Given the privacy policy pseudonymises the alert tag "host" as an IP address on the way to ServiceNow
    When a monitoring tool sends a critical alert for host "10.20.30.40" check "VPN session" described "Session dropped"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket does not contain "10.20.30.40"
    And the ticket short description is "BigPanda Incident: " followed by the pseudonym of the IP address "10.20.30.40" and " - critical"
    And BigPanda still shows host "10.20.30.40" on the alert

  Scenario: Without a policy the description reaches ServiceNow as sent
    When a monitoring tool sends a critical alert for host "web-prod-02" check "Disk full" described "Disk full; mail alice.ops@example.com"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket description contains "mail alice.ops@example.com"

  Scenario: Resolution notes reach BigPanda with emails redacted
    Given the privacy policy redacts emails in free text on the way to BigPanda
    And a critical alert for host "dns-prod-01" check "Resolution" has become a ticket
    When an analyst resolves the ticket in ServiceNow with code "Solution provided" and notes "Fixed after a call with bob.dba@example.com"
    And the core watches ServiceNow for changes
    Then BigPanda shows the incident resolved
    And BigPanda's record of the incident contains "Fixed after a call with [redacted email]"
    And BigPanda's record of the incident does not contain "bob.dba@example.com"

  Scenario: A data protection officer exports a person's data
    Given the x_bip_panda tables hold these records:
      | table                     | column            | value                              |
      | x_bip_panda_shareincident | u_bp_sharer_email | alice.ops@example.com              |
      | x_bip_panda_bp_alerts     | u_tags            | {"owner": "alice.ops@example.com"} |
      | x_bip_panda_bp_alerts     | u_description     | Paged Alice Ops at 02:00           |
      | x_bip_panda_correlation   | u_source          | alice.ops                          |
      | x_bip_panda_bp_alerts     | u_tags            | {"owner": "bob.dba@example.com"}   |
    When the data protection officer exports the data of "alice.ops@example.com"
    Then the export holds 4 records in 3 tables
    And the export names the ServiceNow account "alice.ops" of "Alice Ops"
    And the export does not hold "bob.dba@example.com"

  Scenario: A data protection officer erases a person's data; the erase is audited
    Given the x_bip_panda tables hold these records:
      | table                     | column            | value                              |
      | x_bip_panda_shareincident | u_bp_sharer_email | alice.ops@example.com              |
      | x_bip_panda_bp_alerts     | u_tags            | {"owner": "alice.ops@example.com"} |
      | x_bip_panda_bp_alerts     | u_description     | Paged Alice Ops at 02:00           |
      | x_bip_panda_bp_alerts     | u_tags            | {"owner": "bob.dba@example.com"}   |
    When 3600 seconds pass
    And the data protection officer erases the data of "alice.ops@example.com"
    Then the x_bip_panda_shareincident table holds 0 records
    And no x_bip_panda record holds "alice.ops@example.com" or "Alice Ops"
    And an x_bip_panda_bp_alerts record holds the pseudonym of the email "alice.ops@example.com"
    And an x_bip_panda_bp_alerts record holds the pseudonym of the name "Alice Ops"
    And an x_bip_panda_bp_alerts record holds "bob.dba@example.com"
    And the privacy audit holds 1 completed erase at "2026-01-01 01:00:00" of the subject "alice.ops@example.com"
    And the privacy audit counts 1 "delete" in x_bip_panda_shareincident and 2 "pseudonymise" in x_bip_panda_bp_alerts
    And the privacy audit does not contain "alice.ops@example.com"
    When the data protection officer exports the data of "alice.ops@example.com"
    Then the export holds 0 records in 0 tables

  Scenario: An erase of a person with no records is audited too
    When the data protection officer erases the data of "nobody@example.com"
    Then the privacy audit holds 1 completed erase at "2026-01-01 00:00:00" of the subject "nobody@example.com"

  Scenario: Erasing needs the BigPanda admin role; without it nothing changes
    Given the x_bip_panda tables hold these records:
      | table                     | column            | value                 |
      | x_bip_panda_shareincident | u_bp_sharer_email | alice.ops@example.com |
    When the NOC analyst tries to erase the data of "alice.ops@example.com"
    Then the erase is refused, naming "x_bip_panda.admin"
    And the x_bip_panda_shareincident table holds 1 records
    And the privacy audit is empty
