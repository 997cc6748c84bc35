"""The whole step library, as the pytest plugin registers it (bpsn.pytest_plugin).

Every Gherkin step of the project's features, and the fixtures they share: `bpsn_bench`
(from the plugin), `bpsn_context` (a dict the steps of one scenario share), and a few made
for one feature (`bpsn_cmdb`, `bpsn_oim_forwarders`, `bpsn_bigpanda_api`, `bpsn_rule_store`)."""

from __future__ import annotations

from bpsn.steps.ai_features import *  # noqa: F401,F403
from bpsn.steps.bigpanda_permissions import *  # noqa: F401,F403
from bpsn.steps.alert_configuration import *  # noqa: F401,F403
from bpsn.steps.changes_maintenance import *  # noqa: F401,F403
from bpsn.steps.cmdb_sync import *  # noqa: F401,F403
from bpsn.steps.common import *  # noqa: F401,F403
from bpsn.steps.config_modules import *  # noqa: F401,F403
from bpsn.steps.configuration import *  # noqa: F401,F403
from bpsn.steps.incident_settings import *  # noqa: F401,F403
from bpsn.steps.incident_tasks import *  # noqa: F401,F403
from bpsn.steps.notified_changes import *  # noqa: F401,F403
from bpsn.steps.oim_details import *  # noqa: F401,F403
from bpsn.steps.oim_forwarding import *  # noqa: F401,F403
from bpsn.steps.parent_child import *  # noqa: F401,F403
from bpsn.steps.privacy import *  # noqa: F401,F403
from bpsn.steps.security_model import *  # noqa: F401,F403
from bpsn.steps.staging_transform import *  # noqa: F401,F403
from bpsn.steps.tag_sync import *  # noqa: F401,F403
from bpsn.steps.transform_rules import *  # noqa: F401,F403
from bpsn.steps.upgrade import *  # noqa: F401,F403
