Feature: Transform rules shape a ticket before it is written
  Integration engineers write no-code rules, stored in ServiceNow's x_bip_panda_transform_rule
  table. A rule's conditions test the incident fields about to be written, the BigPanda
  incident's tags and its alerts' tags (equals, not equals, contains, starts with, ends with,
  regex, in list, is empty, greater / less than), all of them (AND) or any (OR). Its actions
  set a field, set a BigPanda incident tag, skip the record or add a work note. Rules run in
  order; one may stop the rest. A dry run tells what each rule would do and writes nothing. A
  rule that cannot work is refused when it is saved, with a message that says why.

  Background:
    Given the BigPanda organisation "demo" auto-shares every incident to ServiceNow

  Scenario: An engineer files database alerts under the Database category
    Given an engineer has saved the transform rule:
      """
      name: Database hosts
      conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
      actions: [{action: set_field, field: category, value: database}]
      """
    When a monitoring tool sends a critical alert for host "db-prod-07" check "Replication lag"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be written with category "database"
    And rule "Database hosts" is reported as "matched"

  Scenario: Alerts from other hosts keep the mapped ticket
    Given an engineer has saved the transform rule:
      """
      name: Database hosts
      conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
      actions: [{action: set_field, field: category, value: database}]
      """
    When a monitoring tool sends a critical alert for host "web-prod-07" check "HTTP 5xx"
    And the transform rules run on the share BigPanda delivers
    Then the rules change nothing on the ticket
    And rule "Database hosts" is reported as "not matched"

  Scenario: An engineer raises checkout incidents to the highest impact
    Given an engineer has saved the transform rule:
      """
      name: Checkout is critical
      conditions: [{field: short_description, operator: contains, value: CHECKOUT, ignore_case: true}]
      actions:
        - {action: set_field, field: impact, value: "1"}
        - {action: set_field, field: urgency, value: "1"}
      """
    When a monitoring tool sends a warning alert for host "checkout-api-2" check "Latency"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be written with impact "1"
    And the ticket would be written with urgency "1"

  Scenario: An engineer tags European incidents for the regional team
    Given BigPanda has the incident tag "team"
    And an engineer has saved the transform rule:
      """
      name: Europe goes to the EMEA NOC
      conditions: [{alert_tag: region, operator: in_list, value: [eu-west-1, eu-central-1]}]
      actions: [{action: set_tag, tag: team, value: emea-noc}]
      """
    When a monitoring tool sends a critical alert for host "web-prod-11" check "HTTP 5xx" with tags:
      | name   | value     |
      | region | eu-west-1 |
    And the transform rules run on the share BigPanda delivers
    Then the BigPanda incident would get the tag "team" set to "emea-noc"

  Scenario: An engineer gives incidents without an owner to the NOC
    Given BigPanda has the incident tag "owner"
    And an engineer has saved the transform rule:
      """
      name: Unowned goes to the NOC
      conditions: [{incident_tag: owner, operator: is_empty}]
      actions: [{action: set_tag, tag: owner, value: noc}]
      """
    When a monitoring tool sends a critical alert for host "web-prod-12" check "HTTP 5xx"
    And the transform rules run on the share BigPanda delivers
    Then the BigPanda incident would get the tag "owner" set to "noc"

  Scenario: An engineer keeps test hosts out of ServiceNow
    Given an engineer has saved the transform rule:
      """
      name: No tickets for test hosts
      conditions: [{alert_tag: host, operator: regex, value: "^test-[a-z]+-\\d+$"}]
      actions: [{action: skip_record, reason: test hosts are not monitored by the NOC}]
      """
    When a monitoring tool sends a critical alert for host "test-web-3" check "HTTP 5xx"
    And the transform rules run on the share BigPanda delivers
    Then no ticket would be written, because "test hosts are not monitored by the NOC"

  Scenario: An engineer leaves a work note on high CPU readings
    Given an engineer has saved the transform rule:
      """
      name: CPU above 95
      conditions: [{alert_tag: cpu_percent, operator: greater_than, value: 95}]
      actions: [{action: add_work_note, text: "CPU above 95%: check the runaway-process runbook first."}]
      """
    When a monitoring tool sends a critical alert for host "app-prod-4" check "CPU load" with tags:
      | name        | value |
      | cpu_percent | 98.5  |
    And the transform rules run on the share BigPanda delivers
    Then the ticket would get a work note containing "runaway-process runbook"

  Scenario: A rule that matches on any condition needs only one of them
    Given an engineer has saved the transform rule:
      """
      name: Storage problems
      match: any
      conditions:
        - {alert_tag: host, operator: ends_with, value: "-nas"}
        - {alert_tag: check, operator: equals, value: Disk space}
      actions: [{action: set_field, field: subcategory, value: storage}]
      """
    When a monitoring tool sends a warning alert for host "web-prod-13" check "Disk space"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be written with subcategory "storage"

  Scenario: A rule that needs all its conditions does nothing when one fails
    Given an engineer has saved the transform rule:
      """
      name: Production databases
      conditions:
        - {alert_tag: host, operator: starts_with, value: "db-"}
        - {alert_tag: host, operator: not_equals, value: db-staging-1}
      actions: [{action: set_field, field: category, value: database}]
      """
    When a monitoring tool sends a critical alert for host "db-staging-1" check "Replication lag"
    And the transform rules run on the share BigPanda delivers
    Then the rules change nothing on the ticket
    And rule "Production databases" is reported as "not matched"

  Scenario Outline: Rules run in order, and a rule can stop the ones after it
    Given an engineer has saved these transform rules:
      """
      - name: Software after
        order: 20
        conditions: [{alert_tag: check, operator: contains, value: HTTP}]
        actions: [{action: set_field, field: category, value: software}]
      - name: Network first
        order: 10
        stop_processing: <stop>
        conditions: [{alert_tag: host, operator: starts_with, value: "lb-"}]
        actions: [{action: set_field, field: category, value: network}]
      """
    When a monitoring tool sends a critical alert for host "lb-prod-1" check "HTTP 5xx"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be written with category "<category>"
    And rule "Network first" is reported as "<first>"
    And rule "Software after" is reported as "<second>"

    Examples:
      | stop  | category | first                        | second      |
      | true  | network  | matched, stops processing    | not reached |
      | false | software | matched                      | matched     |

  Scenario: An engineer notes new tickets only, not their updates
    Given an engineer has saved the transform rule:
      """
      name: Welcome note
      run_on: create
      conditions: [{alert_tag: host, operator: is_not_empty}]
      actions: [{action: add_work_note, text: Opened from BigPanda; see the incident timeline.}]
      """
    And a critical alert for host "mq-prod-08" check "Queue depth" has become a ticket
    When a monitoring tool sends a warning alert for host "mq-prod-08" check "Consumers"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be updated without a work note from the rules
    And rule "Welcome note" is reported as "not for this write (runs on new tickets only)"

  Scenario Outline: A rule that cannot work is refused when it is saved, with the reason
    When an engineer saves the transform rule:
      """
      name: Broken rule
      conditions: [<condition>]
      actions: [<action>]
      """
    Then the rule "Broken rule" is refused, naming <part> and saying "<why>"
    And ServiceNow holds no transform rules

    Examples:
      | condition                                            | action                                                | part        | why                                                |
      | {alert_tag: host, operator: regex, value: "db-("}    | {action: set_field, field: category, value: database} | condition 1 | bad regular expression 'db-('                      |
      | {field: u_team, operator: equals, value: dba}         | {action: set_field, field: category, value: database} | condition 1 | unknown incident field 'u_team'                    |
      | {alert_tag: host, operator: like, value: db}          | {action: set_field, field: category, value: database} | condition 1 | unknown operator 'like'                            |
      | {alert_tag: cpu, operator: greater_than, value: high} | {action: set_field, field: category, value: database} | condition 1 | 'high' is not a number                             |
      |                                                      | {action: set_field, field: category, value: database} | conditions  | a rule needs at least one condition                |
      | {alert_tag: host, operator: is_not_empty}            | {action: set_field, field: u_team, value: dba}        | action 1    | unknown incident field 'u_team'                    |
      | {alert_tag: host, operator: is_not_empty}            | {action: set_field, value: dba}                       | action 1    | names no field to set                              |
      | {alert_tag: host, operator: is_not_empty}            | {action: set_tag, tag: owner, value: dba}             | action 1    | BigPanda has no incident tag 'owner'               |
      | {alert_tag: host, operator: is_not_empty}            | {action: set_field, field: correlation_id, value: x}  | action 1    | it links the ticket to its BigPanda incident       |
      | {alert_tag: host, operator: is_not_empty}            | {action: skip_record}, {action: add_work_note, text: hi} | action 2 | there is no ticket to change                       |

  Scenario: An engineer dry-runs rules before enabling them, and nothing is written
    Given an engineer has saved these transform rules:
      """
      - name: Database hosts
        active: false
        conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
        actions: [{action: set_field, field: category, value: database}]
      - name: No tickets for test hosts
        active: false
        conditions: [{alert_tag: host, operator: starts_with, value: "test-"}]
        actions: [{action: skip_record}]
      """
    And a monitoring tool sends a critical alert for host "db-prod-09" check "Replication lag"
    When the engineer dry-runs the transform rules on BigPanda's active incidents
    Then the dry run reports that rule "Database hosts" would set field "category" to "database"
    And the dry run reports that rule "No tickets for test hosts" did not match
    And the dry run wrote nothing to ServiceNow or BigPanda
    When the transform rules run on the share BigPanda delivers
    Then the rules change nothing on the ticket
    And rule "Database hosts" is reported as "inactive"

  Scenario: A rule broken by a hand edit in ServiceNow is reported and not applied
    Given an engineer has saved these transform rules:
      """
      - name: Database hosts
        conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
        actions: [{action: set_field, field: category, value: database}]
      - name: Critical databases
        order: 200
        conditions: [{alert_tag: host, operator: contains, value: db}]
        actions: [{action: set_field, field: urgency, value: "1"}]
      """
    When an administrator edits the rule "Database hosts" in ServiceNow to the regex "db-(["
    Then the engineer's rule list shows "Database hosts" as not applied because of "bad regular expression"
    When a monitoring tool sends a warning alert for host "db-prod-10" check "Replication lag"
    And the transform rules run on the share BigPanda delivers
    Then the ticket would be written with urgency "1"
    And the ticket would not be written with category "database"

  Scenario: The core writes the ticket the rules shaped
    Given an engineer has saved the transform rule:
      """
      name: Database hosts
      conditions: [{alert_tag: host, operator: starts_with, value: "db-"}]
      actions: [{action: set_field, field: category, value: database}, {action: add_work_note, text: "Filed under Database by a transform rule."}]
      """
    When a monitoring tool sends a critical alert for host "db-prod-08" check "Replication lag"
    And the core polls BigPanda
    Then ServiceNow has 1 incident for that BigPanda incident
    And the ticket field "category" is "database"
    And the ticket has a work note containing "Filed under Database by a transform rule."
    And BigPanda shows the ServiceNow incident number on the incident

  Scenario: The core keeps a skipped share out of ServiceNow and acknowledges it
    Given an engineer has saved the transform rule:
      """
      name: No tickets for test hosts
      conditions: [{alert_tag: host, operator: starts_with, value: "test-"}]
      actions: [{action: skip_record, reason: test hosts are not monitored by the NOC}]
      """
    When a monitoring tool sends a critical alert for host "test-web-4" check "HTTP 5xx"
    And the core polls BigPanda
    Then ServiceNow has 0 incidents for that BigPanda incident
    And the core reports 1 share skipped by a rule
    And BigPanda has no share of the incident waiting

  Scenario: The core sets the tag a rule asks for on the BigPanda incident
    Given BigPanda has the incident tag "team"
    And an engineer has saved the transform rule:
      """
      name: Europe goes to the EMEA NOC
      conditions: [{alert_tag: region, operator: equals, value: eu-west-1}]
      actions: [{action: set_tag, tag: team, value: emea-noc}]
      """
    When a monitoring tool sends a critical alert for host "web-prod-14" check "HTTP 5xx" with tags:
      | name   | value     |
      | region | eu-west-1 |
    And the core polls BigPanda
    Then the BigPanda incident tag "team" is "emea-noc"
