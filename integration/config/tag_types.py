""""Only Text type incident tags are supported" (the seed's Incident Tag Mapping), enforced when
a mapping is saved: the BigPanda tag definitions are read with the version's own credential and
region, and a mapping of any other type (a closed list of values, a priority, a multi value) is
refused with the reason, before a version is written. When BigPanda cannot be asked (offline,
credentials not set yet) the save goes on with a warning, and the core refuses such a version
when it applies it (bootstrap.check_tag_types).
"""

from __future__ import annotations

import httpx

from bpsn.integration.clients.bigpanda import BigPandaClient, BigPandaError
from bpsn.integration.clients.http import ApiClient, RetryPolicy
from bpsn.integration.engine.tags import closed_list_mappings

from .models import IntegrationConfig


class TagTypeRefused(ValueError):
    """A tag mapping of a tag BigPanda does not define as Text."""


class TagTypesUnknown(RuntimeError):
    """BigPanda could not be asked (unreachable, or the credential refused): the types are unknown.
    `bpsn config set` then saves with a warning; the core checks again when it applies the version."""


async def refuse_closed_list_tags(config: IntegrationConfig, organization: str, *,
                                  transport: httpx.AsyncBaseTransport | None = None,
                                  timeout: float = 10.0) -> None:
    """Raises TagTypeRefused naming every mapped tag that is not a Text tag (nothing to read when
    nothing is mapped); TagTypesUnknown when BigPanda cannot be asked, saying why."""
    mappings = config.incident_settings(organization).tag_mappings
    if not mappings:
        return
    token = config.bearer_credential[0]
    async with httpx.AsyncClient(base_url=config.bigpanda_api_url, transport=transport, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}) as http:
        try:
            definitions = await BigPandaClient(ApiClient(http, policy=RetryPolicy(max_attempts=3)), "").tag_definitions()
        except (BigPandaError, httpx.HTTPError) as exc:
            raise TagTypesUnknown(f"cannot check the mapped tags' types in BigPanda at {config.bigpanda_api_url} "
                                  f"({exc or type(exc).__name__})") from None
    problems = closed_list_mappings(mappings, definitions)
    if problems:
        raise TagTypeRefused("; ".join(problems))
