"""What a load run seeds before the core starts: BigPanda's demo organisation with one more user
API key and the mapped Text tag, and the core's tag mapping. Pure data; the runner writes it.

The lifecycle users edit incident tags as a BigPanda user. BigPanda limits every token to 5
requests/s, so with the core's own key those edits would spend the core's budget and blur the
ceiling; an analyst has a key of their own in a real organisation too.
"""

from __future__ import annotations

import json
from typing import Any

from bpsn.simulator.bigpanda.settings import BigPandaSettings

ANALYST_KEY = "BPUload-analyst-key"
ANALYST_EMAIL = "load.analyst@demo.example.com"
TAG = "component"  # a Text incident tag in BigPanda ...
TAG_FIELD = "subcategory"  # ... mapped both ways to this free-text incident field


def bigpanda_fixture(s: BigPandaSettings, analyst_key: str = ANALYST_KEY, tag: str = TAG) -> dict[str, Any]:
    """The demo organisation as the simulator builds it by default, plus the analyst's key and the tag."""
    if analyst_key == s.user_api_key:
        raise ValueError(f"the analyst key must differ from the core's user API key ({s.user_api_key})")
    return {"organizations": [{
        "name": s.organization, "org_token": s.org_token,
        "user_api_keys": {s.user_api_key: s.user_email, analyst_key: ANALYST_EMAIL},
        "app_keys": {"alerts": s.alerts_app_key, "incidents": s.incidents_app_key, "changes": s.changes_app_key,
                     "oim": s.oim_app_key},
        "integrations": {s.alerts_app_key: "api.demo_monitoring", s.oim_app_key: "oim.demo_oim"},
        "environments": [{"name": s.environment, "autoshare_targets": ["servicenow"],
                          "description": "Every incident, auto-shared to ServiceNow"}],
        "tag_definitions": [{"name": tag, "type": "Text",
                             "description": "Set by the load test's analysts; synced with the ticket"}],
    }]}


def core_tag_mappings(tag: str = TAG, field: str = TAG_FIELD) -> str:
    """BPSN_TAG_MAPPINGS for `bpsn core`."""
    return json.dumps([{"tag": tag, "field": field, "direction": "both"}])
