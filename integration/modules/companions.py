"""Which companions a runner gets, from the Alert Configuration module's settings.

Share staging always (inbound data stages through x_bip_panda_shareincident, and its transform
map keeps the incident metadata); the correlation and external ticket rows always (correlations.py);
with alert processing on: the BigPanda alert records (BP alerts add-on), incident tasks (a task tag, or "parse events into incident tasks"), parent-child
incidents, Root Cause Changes (the RCC tab) and similar incidents (the similar incidents tab);
the BigPanda view link for BigPanda's activity log when asked for. Their record writes of a
poll share one Batch API request (poll_batch.py).
"""

from __future__ import annotations

import functools

from bpsn.integration.modules import (
    alert_records,
    correlations,
    incident_tasks,
    parent_child,
    root_cause,
    similar,
    staging,
)

from .alert_config import AlertConfigSettings, activity_link
from .companion import CompanionHost


def attach_companions(runner: CompanionHost, settings: AlertConfigSettings) -> None:
    staging.attach(runner)
    correlations.attach(runner)  # what BigPanda sends about correlation and external tickets, always
    if settings.processing and settings.alerts_table:
        alert_records.attach(runner, settings)
    if settings.processing:
        tasks = settings.incident_task_settings()
        if tasks.enabled:
            incident_tasks.attach(runner, tasks)
        if settings.parent_child_incidents:
            parent_child.attach(runner, parent_child.ParentChildSettings(enabled=True,
                                                                         group_tag=settings.parent_child_tag))
        if settings.rcc_tab:
            root_cause.attach(runner, root_cause.RootCauseSettings.from_alert_config(settings))
        if settings.similar_incidents_tab:
            similar.attach(runner, similar.SimilarSettings.from_alert_config(settings))
    if settings.bigpanda_view_link:
        runner.ticket_link = functools.partial(activity_link, settings)
